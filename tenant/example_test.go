package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/tenant"
)

func Example() {
	reg, err := tenant.Load("testdata/registry.yaml")
	if err != nil {
		log.Fatal(err)
	}
	// An API request presents its token; the registry holds only hashes.
	acme, tokenName, err := reg.Authenticate("kiln_example-token-acme")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acme.ID(), tokenName)

	// Topics are built from the tenant's own namespaces only.
	topic, _ := acme.Topic("plant-1", "samples")
	fmt.Println(topic)
	_, err = acme.Topic("plant-1", "../../globex/main/samples")
	fmt.Println(errors.Is(err, tenant.ErrTopic))
	// Output:
	// acme ingest
	// persistent://acme/plant-1/samples
	// true
}

// A scoped store writes and reads as its tenant, within its quotas.
func ExampleNewStore() {
	reg, err := tenant.Load("testdata/registry.yaml")
	if err != nil {
		log.Fatal(err)
	}
	acme, _ := reg.Tenant("acme") // quotas: 1000 samples/s
	dir, _ := os.MkdirTemp("", "kiln-example")
	defer os.RemoveAll(dir)
	db, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(dir, "s.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	s := tenant.NewStore(acme, db)
	batch := make([]plc.Sample, 1500)
	for i := range batch {
		batch[i] = plc.Sample{Tag: "Line1.Temp", Value: plc.IntValue(plc.Int, int64(i)), Quality: plc.Good, Time: time.Unix(int64(i), 0)}
	}
	_, err = s.Write(context.Background(), batch)
	var qe *tenant.QuotaError
	fmt.Println(errors.As(err, &qe), qe.Quota)
	res, err := s.Write(context.Background(), batch[:500])
	fmt.Println(res.Inserted, err)
	// Output:
	// true samples_per_second
	// 500 <nil>
}

func ExampleNewToken() {
	tok, hash, err := tenant.NewToken()
	if err != nil {
		log.Fatal(err)
	}
	// Give tok to the client once; put hash in the registry.
	fmt.Println(len(tok) > len(tenant.TokenPrefix), hash == tenant.HashToken(tok))
	// Output: true true
}
