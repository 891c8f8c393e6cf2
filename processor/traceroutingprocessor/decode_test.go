package traceroutingprocessor

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decoded is a trace config as tests compare it: field name -> value.
type decoded struct {
	fields       map[string]string
	destinations []string
}

func decodeWith(t *testing.T, configure func(*Config), s string) (decoded, error) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if configure != nil {
		configure(cfg)
	}
	require.NoError(t, cfg.Validate())
	d := newDecoder(cfg)
	tc, err := d.decode(s)
	if err != nil {
		return decoded{}, err
	}
	out := decoded{fields: map[string]string{}, destinations: tc.destinations}
	for i, v := range tc.values {
		if v != "" {
			out.fields[d.fields[i].name] = v
		}
	}
	return out, nil
}

func fields(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestDecodeEncodings(t *testing.T) {
	js := `{"accountId":42,"zoneId":12345}`
	want := decoded{fields: fields("account", "42", "zone", "12345")}
	for name, s := range map[string]string{
		"raw JSON":                js,
		"raw JSON, spaces around": "  " + js + "\t",
		"base64 std padded":       base64.StdEncoding.EncodeToString([]byte(js)),
		"base64 std unpadded":     base64.RawStdEncoding.EncodeToString([]byte(js)),
		"base64 url padded":       base64.URLEncoding.EncodeToString([]byte(js)),
		"base64 url unpadded":     base64.RawURLEncoding.EncodeToString([]byte(js)),
		"kv ;":                    "account=42;zone=12345",
		"kv ,":                    "account=42,zone=12345",
		"kv &":                    "account=42&zone=12345",
		"kv mixed, stray spaces":  " account = 42 ;; zone=12345 & ",
		"kv trailing separator":   "accountId=42;zoneId=12345;",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeWith(t, nil, s)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// The base64 alphabets differ in two characters: a config whose encoding
// holds them decodes in both.
func TestDecodeBase64AlphabetCharacters(t *testing.T) {
	js := `{"account":"a>>?~~~","zone":"ÿÿ"}`
	std := base64.StdEncoding.EncodeToString([]byte(js))
	url := base64.URLEncoding.EncodeToString([]byte(js))
	require.True(t, strings.ContainsAny(std, "+/"), "the sample must exercise the standard alphabet: %s", std)
	require.True(t, strings.ContainsAny(url, "-_"), "the sample must exercise the URL alphabet: %s", url)
	for _, s := range []string{std, url, strings.TrimRight(std, "="), strings.TrimRight(url, "=")} {
		got, err := decodeWith(t, nil, s)
		require.NoError(t, err, s)
		assert.Equal(t, fields("account", "a>>?~~~", "zone", "ÿÿ"), got.fields)
	}
}

func TestDecodeValueKinds(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want map[string]string
	}{
		"integer":              {`{"account":42}`, fields("account", "42")},
		"integer above 2^53":   {`{"account":9007199254740993}`, fields("account", "9007199254740993")},
		"negative":             {`{"account":-7}`, fields("account", "-7")},
		"float keeps its text": {`{"account":1.50}`, fields("account", "1.50")},
		"tiny float":           {`{"account":0.0000001}`, fields("account", "0.0000001")},
		"exponent as sent":     {`{"account":1e3}`, fields("account", "1e3")},
		"string":               {`{"account":"acc-1"}`, fields("account", "acc-1")},
		"escaped string":       {`{"account":"a\"b\u00e9"}`, fields("account", `a"bé`)},
		"true":                 {`{"account":true}`, fields("account", "true")},
		"false":                {`{"account":false}`, fields("account", "false")},
		"null is absent":       {`{"account":null}`, fields()},
		"empty is absent":      {`{"account":""}`, fields()},
		"object is ignored":    {`{"account":{"id":1},"zone":"z"}`, fields("zone", "z")},
		"array is ignored":     {`{"account":[1,2],"zone":"z"}`, fields("zone", "z")},
		"unknown keys ignored": {`{"other":"x","zone":"z"}`, fields("zone", "z")},
		"kv value with =":      {`account=a=b;zone=z`, fields("account", "a=b", "zone", "z")},
		"kv empty value":       {`account=;zone=z`, fields("zone", "z")},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeWith(t, nil, tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.fields)
		})
	}
}

func TestDecodeAliases(t *testing.T) {
	for _, f := range []string{"account", "zone", "workspace"} {
		for _, key := range []string{f, f + "_id", f + "Id", f + "ID"} {
			t.Run(key, func(t *testing.T) {
				for _, s := range []string{
					fmt.Sprintf(`{%q:"v"}`, key),
					key + "=v",
				} {
					got, err := decodeWith(t, nil, s)
					require.NoError(t, err)
					assert.Equal(t, fields(f, "v"), got.fields, s)
				}
			})
		}
	}
	// Keys match exactly: another case is another key.
	got, err := decodeWith(t, nil, `{"Account":"x","ACCOUNT_ID":"y"}`)
	require.NoError(t, err)
	assert.Empty(t, got.fields)
}

// The first present key of a field's list wins, whatever the order in the
// trace config; null and "" are not present.
func TestDecodeFirstPresentKeyWins(t *testing.T) {
	for in, want := range map[string]string{
		`{"accountId":"camel","account":"plain"}`:    "plain",
		`{"accountID":"ID","account_id":"snake"}`:    "snake",
		`{"account":null,"accountId":"camel"}`:       "camel",
		`{"account":"","account_id":"snake"}`:        "snake",
		`account_id=snake;accountId=camel`:           "snake",
		`{"account":{"nested":1},"accountId":"c"}`:   "c",
		`{"accountID":"ID","accountId":"camel"}`:     "camel",
		`{"account_id":1,"accountId":2,"account":3}`: "3",
	} {
		got, err := decodeWith(t, nil, in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.fields["account"], in)
	}
}

func TestDecodeDuplicateKeysLastWins(t *testing.T) {
	for _, in := range []string{`{"zone":"first","zone":"last"}`, `zone=first;zone=last`} {
		got, err := decodeWith(t, nil, in)
		require.NoError(t, err)
		assert.Equal(t, fields("zone", "last"), got.fields, in)
	}
}

func TestDecodeUserFields(t *testing.T) {
	configure := func(c *Config) {
		c.Fields["tenant"] = []string{"tenant", "org"}
		c.Fields["zone"] = []string{"site"} // replaces the default aliases
		c.Fields["workspace"] = nil         // removes the field
	}
	got, err := decodeWith(t, configure, `{"org":"acme","zone":"ignored","site":"s1","workspace":"w"}`)
	require.NoError(t, err)
	assert.Equal(t, fields("tenant", "acme", "zone", "s1"), got.fields)
}

func TestDecodeDestinations(t *testing.T) {
	for in, want := range map[string][]string{
		`{"destinations":["tempo","vendor"]}`:    {"tempo", "vendor"},
		`{"destinations":["tempo","tempo","a"]}`: {"tempo", "a"},
		`{"destinations":"tempo|vendor"}`:        {"tempo", "vendor"},
		`{"destinations":[]}`:                    nil,
		`{"destinations":null}`:                  nil,
		`{"account":"a"}`:                        nil,
		`destinations=tempo|vendor;account=a`:    {"tempo", "vendor"},
		`destinations= tempo | vendor |`:         {"tempo", "vendor"},
		`destinations=;zone=z`:                   nil,
	} {
		got, err := decodeWith(t, nil, in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.destinations, in)
	}
	// destinations_key "" ignores the list; another key reads it there.
	got, err := decodeWith(t, func(c *Config) { c.DestinationsKey = "" }, `{"destinations":["tempo"]}`)
	require.NoError(t, err)
	assert.Nil(t, got.destinations)
	got, err = decodeWith(t, func(c *Config) { c.DestinationsKey = "to" }, `to=tempo|audit`)
	require.NoError(t, err)
	assert.Equal(t, []string{"tempo", "audit"}, got.destinations)
}

func TestDecodeFormatPinned(t *testing.T) {
	js := `{"account":"a"}`
	b64 := base64.StdEncoding.EncodeToString([]byte(js))
	for _, tc := range []struct {
		format Format
		in     string
		err    error
	}{
		{FormatJSON, js, nil},
		{FormatJSON, b64, nil},
		{FormatJSON, "account=a", errNotJSON},
		{FormatKV, "account=a", nil},
		{FormatKV, js, errNotKV},
		{FormatKV, b64, errNotKV},
	} {
		_, err := decodeWith(t, func(c *Config) { c.Format = tc.format }, tc.in)
		assert.ErrorIs(t, err, tc.err, "%s %q", tc.format, tc.in)
	}
}

func TestDecodeInvalid(t *testing.T) {
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprintf(`"d%d"`, i)
	}
	for name, tc := range map[string]struct {
		in  string
		err error
	}{
		"over 8 KiB":             {`{"pad":"` + strings.Repeat("x", 8<<10) + `"}`, errTooLarge},
		"broken JSON":            {`{"account":`, errNotJSON},
		"kv without any value":   {"YWI=", errUndecodable},
		"kv key with a space":    {"zone id=1", errUndecodable},
		"JSON array":             {`[{"account":"a"}]`, errUndecodable},
		"plain word":             {"hello", errUndecodable},
		"kv pair without =":      {"zone=1;account", errUndecodable},
		"kv empty key":           {"=1", errUndecodable},
		"binary":                 {"\x00\xff\xfe{", errUndecodable},
		"base64 of binary":       {base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), errUndecodable},
		"value over 256":         {`{"account":"` + strings.Repeat("é", 257) + `"}`, errValueTooLong},
		"kv value over 256":      {"zone=" + strings.Repeat("z", 257), errValueTooLong},
		"kv value not UTF-8":     {"zone=\xff\xfe", errValueNotUTF8},
		"33 destinations":        {`{"destinations":[` + strings.Join(many, ",") + `]}`, errTooManyDestinations},
		"bad destination name":   {`{"destinations":["no spaces"]}`, errDestinationName},
		"name over 128":          {`{"destinations":["` + strings.Repeat("n", 129) + `"]}`, errDestinationName},
		"kv bad name":            {"destinations=a/b", errDestinationName},
		"destinations an object": {`{"destinations":{"tempo":true}}`, errDestinationsShape},
		"destinations of ints":   {`{"destinations":[1,2]}`, errDestinationsShape},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeWith(t, nil, tc.in)
			assert.ErrorIs(t, err, tc.err)
		})
	}
	// A value over the limit in a key nobody reads costs nothing.
	_, err := decodeWith(t, nil, `{"note":"`+strings.Repeat("n", 300)+`","zone":"z"}`)
	assert.NoError(t, err)
	// Exactly at the limits is fine.
	_, err = decodeWith(t, nil, `{"account":"`+strings.Repeat("é", 256)+`"}`)
	assert.NoError(t, err)
}
