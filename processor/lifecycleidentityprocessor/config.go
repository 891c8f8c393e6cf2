package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// Policies for identity.on_violation. Every policy counts violations by
// kind.
const (
	// OnViolationTag keeps the span and adds lifecycle.identity.violations.
	OnViolationTag = "tag"
	// OnViolationDrop drops the span.
	OnViolationDrop = "drop"
	// OnViolationCount (the default) changes nothing; violations are only
	// counted. Spans of producers that carry no identity travel on to
	// customers' destinations, which must never receive our diagnostics
	// unasked.
	OnViolationCount = "count"
)

// Attribute types for identity.attributes[].type.
const (
	TypeString = "string"
	TypeInt    = "int"
	TypeDouble = "double"
	TypeBool   = "bool"
)

// Defaults.
const (
	defaultOnViolation = OnViolationCount
	defaultMaxSpans    = 2000
	defaultMaxAge      = 10 * time.Minute
	defaultIdleTimeout = 5 * time.Minute
	defaultMaxTraces   = 100_000
	defaultMaxStateMiB = 512

	// uuidPattern is the default pattern of process.nonce.
	uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
)

// Config is the configuration of the lifecycle_identity processor.
type Config struct {
	// Identity is the identity schema and what to do with spans that break it.
	Identity IdentityConfig `mapstructure:"identity"`
	// Split bounds traces by cutting them into segments.
	Split SplitConfig `mapstructure:"split"`
}

// IdentityConfig configures identity validation.
type IdentityConfig struct {
	// Attributes is the schema. Each key is looked up on the span, then on its
	// resource. Default: the five lifecycle keys, see defaultIdentityAttributes.
	// Setting the list replaces the default; an empty list checks nothing.
	Attributes []AttributeRule `mapstructure:"attributes"`
	// OnViolation is what happens to a span that breaks the schema: count
	// (default: change nothing, count each violation by kind), tag (keep the
	// span, add lifecycle.identity.violations) or drop (drop the span).
	// Violations are counted by kind under every policy.
	OnViolation string `mapstructure:"on_violation"`
}

// AttributeRule is one entry of the identity schema.
type AttributeRule struct {
	// Key is the attribute key. Required.
	Key string `mapstructure:"key"`
	// Required makes a missing attribute a violation (missing:KEY). Default false.
	Required bool `mapstructure:"required"`
	// Type is string, int, double or bool; a value of another type is a
	// violation (type:KEY). Default empty: any type.
	Type string `mapstructure:"type"`
	// Pattern is a regular expression (RE2) the value's string form must
	// match (pattern:KEY). Default empty: no pattern.
	Pattern string `mapstructure:"pattern"`
}

// SplitConfig configures how traces are cut into segments.
type SplitConfig struct {
	// MaxSpans is the number of spans after which a segment is closed and the
	// next one opens. At most 32767 (segment.MaxSpans). Default 2000.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxAge is how long a segment stays open (wall clock of arrival,
	// counted in whole milliseconds). At least 1ms, at most 576h
	// (segment.MinDuration, segment.MaxDuration). Default 10m.
	MaxAge time.Duration `mapstructure:"max_age"`
	// IdleTimeout drops the state of a trace that received no span for this
	// long (counted in whole milliseconds). At least 1ms, at most 576h.
	// Default 5m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxTraces is the number of traces tracked at most; the least recently
	// active one is evicted first. At most 16777215 (segment.MaxTraces).
	// Default 100000.
	MaxTraces int `mapstructure:"max_traces"`
	// MaxStateMiB bounds the memory the splitting state takes, in MiB; the
	// least recently active trace is evicted first when it is exceeded. It
	// must exceed what the trace table alone takes at MaxTraces
	// (segment.FixedBytes). Default 512.
	MaxStateMiB int `mapstructure:"max_state_mib"`
}

// engineConfig is what the splitting engine needs of the configuration.
func (c SplitConfig) engineConfig() segment.Config {
	return segment.Config{
		MaxSpans:      c.MaxSpans,
		MaxAge:        c.MaxAge,
		IdleTimeout:   c.IdleTimeout,
		MaxTraces:     c.MaxTraces,
		MaxStateBytes: int64(c.MaxStateMiB) << 20,
	}
}

var _ component.Config = (*Config)(nil)

// defaultIdentityAttributes returns the default schema: component.name and
// footprint.identifier required, footprint.revision an int, footprint.solution
// a string, process.nonce a UUID.
func defaultIdentityAttributes() []AttributeRule {
	return []AttributeRule{
		{Key: "component.name", Required: true, Type: TypeString},
		{Key: "footprint.identifier", Required: true, Type: TypeString},
		{Key: "footprint.revision", Type: TypeInt},
		{Key: "footprint.solution", Type: TypeString},
		{Key: "process.nonce", Type: TypeString, Pattern: uuidPattern},
	}
}

func createDefaultConfig() component.Config {
	return &Config{
		Identity: IdentityConfig{
			Attributes:  defaultIdentityAttributes(),
			OnViolation: defaultOnViolation,
		},
		Split: SplitConfig{
			MaxSpans:    defaultMaxSpans,
			MaxAge:      defaultMaxAge,
			IdleTimeout: defaultIdleTimeout,
			MaxTraces:   defaultMaxTraces,
			MaxStateMiB: defaultMaxStateMiB,
		},
	}
}

// Validate checks the configuration, one key at a time.
func (cfg *Config) Validate() error {
	switch cfg.Identity.OnViolation {
	case OnViolationTag, OnViolationDrop, OnViolationCount:
	default:
		return fmt.Errorf("identity::on_violation: must be %q, %q or %q, got %q",
			OnViolationTag, OnViolationDrop, OnViolationCount, cfg.Identity.OnViolation)
	}
	seen := make(map[string]int, len(cfg.Identity.Attributes))
	for i, a := range cfg.Identity.Attributes {
		if err := a.validate(); err != nil {
			return fmt.Errorf("identity::attributes::%d::%w", i, err)
		}
		if j, ok := seen[a.Key]; ok {
			return fmt.Errorf("identity::attributes::%d::key: %q already declared in identity::attributes::%d", i, a.Key, j)
		}
		seen[a.Key] = i
	}
	if cfg.Split.MaxSpans < 1 {
		return fmt.Errorf("split::max_spans: must be at least 1, got %d", cfg.Split.MaxSpans)
	}
	// A trace's slot counts the spans of its current segment in 16 bits
	// (internal/segment/table.go).
	if cfg.Split.MaxSpans > segment.MaxSpans {
		return fmt.Errorf("split::max_spans: must be at most %d, got %d", segment.MaxSpans, cfg.Split.MaxSpans)
	}
	if err := checkTicks("split::max_age", cfg.Split.MaxAge); err != nil {
		return err
	}
	if err := checkTicks("split::idle_timeout", cfg.Split.IdleTimeout); err != nil {
		return err
	}
	if cfg.Split.MaxTraces < 1 {
		return fmt.Errorf("split::max_traces: must be at least 1, got %d", cfg.Split.MaxTraces)
	}
	// A trace's slot links it to others by 24-bit slot numbers
	// (internal/segment/table.go).
	if cfg.Split.MaxTraces > segment.MaxTraces {
		return fmt.Errorf("split::max_traces: must be at most %d, got %d", segment.MaxTraces, cfg.Split.MaxTraces)
	}
	if cfg.Split.MaxStateMiB < 1 {
		return fmt.Errorf("split::max_state_mib: must be at least 1, got %d", cfg.Split.MaxStateMiB)
	}
	// The table's own memory is never freed by evicting: a budget it fills
	// alone would make every new trace evict all the others.
	if floor := segment.FixedBytes(cfg.Split.MaxTraces); int64(cfg.Split.MaxStateMiB)<<20 <= floor {
		return fmt.Errorf("split::max_state_mib: must be more than the %.1f MiB the trace table takes outside the Go heap at split::max_traces %d (raise it, or lower split::max_traces), got %d",
			float64(floor)/(1<<20), cfg.Split.MaxTraces, cfg.Split.MaxStateMiB)
	}
	return nil
}

// checkTicks checks a duration the engine counts: a trace's slot keeps
// its instants as 32-bit millisecond counts (internal/segment/ticks.go). A
// shorter duration would be rounded up to a millisecond, so a bare number
// (read as nanoseconds) would cut every trace into segments of a
// millisecond without a word.
func checkTicks(key string, d time.Duration) error {
	if d < segment.MinDuration {
		return fmt.Errorf("%s: must be at least %s, got %s", key, segment.MinDuration, d)
	}
	if d > segment.MaxDuration {
		return fmt.Errorf("%s: must be at most %s, got %s", key, segment.MaxDuration, d)
	}
	return nil
}

// validate returns an error whose text starts with the offending field name.
func (a AttributeRule) validate() error {
	if a.Key == "" {
		return errors.New("key: must not be empty")
	}
	switch a.Type {
	case "", TypeString, TypeInt, TypeDouble, TypeBool:
	default:
		return fmt.Errorf("type: key %q: must be %q, %q, %q or %q, got %q",
			a.Key, TypeString, TypeInt, TypeDouble, TypeBool, a.Type)
	}
	if a.Pattern != "" {
		if _, err := regexp.Compile(a.Pattern); err != nil {
			return fmt.Errorf("pattern: key %q: %w", a.Key, err)
		}
	}
	return nil
}
