// Package tenant keeps each customer inside its own walls: who the
// tenants are, how they prove it, what they may use, and clients that can
// only touch one tenant's data.
//
// A Registry is loaded from a YAML file (errors name file, line and
// field, all of them in one pass):
//
//	tenants:
//	  - id: acme                      # lowercase letters, digits, dashes
//	    name: ACME Corp
//	    namespaces: [plant-1, plant-2] # the Pulsar namespaces it may use
//	    tokens:                        # API tokens, as SHA-256 hashes only
//	      - {name: ingest, sha256: 48a7ccb8…}
//	    quotas: {samples_per_second: 50000, tags: 10000, writes_per_minute: 600}
//	    pulsar: {role: acme-edge, token_file: pulsar/acme.token}
//
// and then:
//
//	reg, err := tenant.Load("/etc/kiln/tenants.yaml")
//	t, _, err := reg.Authenticate(bearerToken)     // constant-time hash compare
//	ctx = tenant.NewContext(ctx, t)                 // or reg.Middleware(handler)
//	topic, err := t.Topic("plant-1", "samples")     // persistent://acme/plant-1/samples
//	s := tenant.NewStore(t, pg)                     // every call as acme, under quotas
//	x := tenant.NewTransport(t, openPublisher, openSubscriber)
//	auth := pulsar.NewAuthenticationTokenFromSupplier(t.PulsarToken)
//
// Topic names are built, never taken whole from outside: the namespace
// must be on the tenant's list and the local name a plain word, so "/",
// "://", "..", escapes and other tenants' names are refused (CheckTopic
// does the same for a full name that comes from a message or request).
// Quotas are token buckets (golang.org/x/time/rate); a refused write
// returns a *QuotaError saying which quota and when to retry, and takes
// nothing. The scoped Store passes the tenant's id on every call, which
// pgstore turns into the transaction's row-level-security setting.
package tenant
