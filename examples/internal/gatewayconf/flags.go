package gatewayconf

import (
	"flag"
	"fmt"
	"io"
)

// Flags are the command-line settings; each one set overrides the file.
type Flags struct {
	File    string
	applied []func(*Config)
}

// NewFlags defines the gateway's flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.File, "config", "", "configuration file (YAML); see below for every field")
	str := func(name, usage string, set func(*Config, string)) {
		p := fs.String(name, "", usage)
		f.applied = append(f.applied, func(c *Config) {
			if isSet(fs, name) {
				set(c, *p)
			}
		})
	}
	str("id", "gateway id (id)", func(c *Config, v string) { c.ID = v })
	str("tenant", "tenant id (tenant)", func(c *Config, v string) { c.Tenant = v })
	str("token", "write token (token)", func(c *Config, v string) { c.Token = v })
	str("demo", "run the simulated plant in-process: auto, on, off (demo)", func(c *Config, v string) { c.Demo = v })
	str("data", "data directory (data_dir)", func(c *Config, v string) { c.DataDir = v })
	str("listen", "HTTP listen address (http.listen)", func(c *Config, v string) { c.HTTP.Listen = v })
	str("transport", "embedded or pulsar (transport.kind)", func(c *Config, v string) { c.Transport.Kind = v })
	str("pulsar-url", "Pulsar service URL (transport.pulsar.client.url)", func(c *Config, v string) { c.Transport.Pulsar.Client.URL = v })
	str("topic", "Pulsar data topic (transport.pulsar.topic)", func(c *Config, v string) { c.Transport.Pulsar.Topic = v })
	str("command-topic", "Pulsar command topic (transport.command_topic)", func(c *Config, v string) { c.Transport.CommandTopic = v })
	str("spool", "spool directory (spool.dir)", func(c *Config, v string) { c.Spool.Dir = v })
	fs.Usage = func() { Usage(fs.Output(), fs) }
	return f
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Apply overrides c with the flags that were set and validates the
// result; an error names the flag.
func (f *Flags) Apply(c *Config) error {
	for _, a := range f.applied {
		a(c)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("after flags: %w", err)
	}
	return nil
}

// Usage prints the flags and the documented configuration file.
func Usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: edge-gateway [flags]\n\n"+
		"Reads PLCs (S7, OPC UA), spools what changes to disk and forwards it (embedded\n"+
		"store or Pulsar); takes checked writes over HTTP and a command topic.\n"+
		"Without flags it runs the simulated kiln line in-process. It sets Go's soft memory\n"+
		"limit from its tag count unless memory_limit or GOMEMLIMIT says otherwise.\n\nFlags (each overrides the file):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nConfiguration file (-config), every field with its default:\n\n%s", Reference())
}
