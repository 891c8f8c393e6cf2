// Package confmoved turns a config key that a component no longer has into
// an error that says where its setting went, instead of the collector's
// generic "has invalid keys" message, so an old config fails with a fix.
package confmoved // import "github.com/tracebound/tracebound/internal/confmoved"

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"
)

// Key is a removed key and what replaces it.
type Key struct {
	// Name is the removed key, as a user wrote it under the component.
	Name string
	// MovedTo says, in a sentence fragment, where its setting is now.
	MovedTo string
}

// Check returns an error for the first of keys that conf sets, naming it and
// where its setting moved; nil when none is set.
func Check(conf *confmap.Conf, keys ...Key) error {
	for _, k := range keys {
		if conf.IsSet(k.Name) {
			return fmt.Errorf("%s: no longer supported: %s", k.Name, k.MovedTo)
		}
	}
	return nil
}
