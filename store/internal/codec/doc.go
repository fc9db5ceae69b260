// Package codec lays plc values out for storage and back, faithfully: the
// kind, the 64 bits of a number, the bytes of a string.
package codec
