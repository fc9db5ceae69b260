// Package wire encodes and decodes the S7comm telegrams kiln's S7 driver
// and simulator exchange: ISO-on-TCP framing (RFC 1006 TPKT + ISO 8073
// COTP), setup communication, and the Read Var / Write Var jobs with many
// items. It also computes telegram sizes, so a planner can keep every
// request and response within a negotiated PDU.
//
// Sizes called "PDU" here count the S7 part of a telegram (header,
// parameters and data), not the 7 bytes of TPKT and COTP in front of it,
// as the PDU length negotiated by setup communication does.
package wire
