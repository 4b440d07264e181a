package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/skiffops/skiff/agent"
)

// defaultConfigPath is read when --config is not given; unlike an explicit
// --config, it may be missing (flags alone can configure an agent).
const defaultConfigPath = "/etc/skiff/agent.yaml"

// configField is one settable leaf of agent.Config: a string, a duration, a
// number, a map of strings or a list of strings, found by its YAML path.
// Lists of mappings (notify) are set in the file only: they have no flag.
type configField struct {
	path  string // YAML path, "source.auth.password_file"
	index []int  // reflect field index from agent.Config
	typ   reflect.Type
}

// flagName is the command-line name of the field: its YAML path with dashes.
func (f configField) flagName() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(f.path)
}

var durationType = reflect.TypeOf(time.Duration(0))

// configFields lists the leaves of agent.Config in declaration order.
func configFields() []configField {
	return appendFields(nil, reflect.TypeOf(agent.Config{}), "", nil)
}

func appendFields(out []configField, t reflect.Type, prefix string, index []int) []configField {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			out = appendFields(out, f.Type, path, idx)
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			continue // a list of mappings: file only
		}
		out = append(out, configField{path: path, index: idx, typ: f.Type})
	}
	return out
}

// decodeConfigFile applies the YAML document in data onto cfg. Every error
// names the file, the line and the field's YAML path; all are reported.
func decodeConfigFile(file string, data []byte, cfg *agent.Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 {
		return nil // empty file: defaults and flags only
	}
	d := configDecoder{file: file}
	d.decode(root.Content[0], reflect.ValueOf(cfg).Elem(), "")
	return errors.Join(d.errs...)
}

type configDecoder struct {
	file string
	errs []error
}

func (d *configDecoder) fail(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.file, n.Line, msg))
}

func (d *configDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a duration such as 30s")
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n, path, "%q is not a duration (use a unit: 500ms, 30s, 5m)", n.Value)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a string")
			return
		}
		v.SetString(n.Value)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n, path, "%q is not a whole number", n.Value)
			return
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Map:
		d.decodeMap(n, v, path)
	case v.Kind() == reflect.Slice:
		d.decodeList(n, v, path)
	default:
		d.fail(n, path, "unsupported field type %s", v.Type())
	}
}

func (d *configDecoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		child := key.Value
		if path != "" {
			child = path + "." + key.Value
		}
		idx, ok := fieldByTag(v.Type(), key.Value)
		if !ok {
			d.fail(key, "", "unknown key %q (known: %s)", child, strings.Join(tagNames(v.Type()), ", "))
			continue
		}
		d.decode(val, v.Field(idx), child)
	}
}

func (d *configDecoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of strings")
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			d.fail(val, path+"."+key.Value, "must be a string")
			continue
		}
		m.SetMapIndex(reflect.ValueOf(key.Value), reflect.ValueOf(val.Value))
	}
	v.Set(m)
}

func (d *configDecoder) decodeList(n *yaml.Node, v reflect.Value, path string) {
	structs := v.Type().Elem().Kind() == reflect.Struct
	if n.Kind != yaml.SequenceNode {
		if structs {
			d.fail(n, path, "must be a list of mappings")
		} else {
			d.fail(n, path, "must be a list of strings")
		}
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		if structs {
			// Each item starts from the zero value: the file says all of it.
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i))
			s = reflect.Append(s, elem)
			continue
		}
		if item.Kind != yaml.ScalarNode {
			d.fail(item, fmt.Sprintf("%s[%d]", path, i), "must be a string")
			continue
		}
		s = reflect.Append(s, reflect.ValueOf(item.Value))
	}
	v.Set(s)
}

func fieldByTag(t reflect.Type, tag string) (int, bool) {
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == tag {
			return i, true
		}
	}
	return 0, false
}

func tagNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// configFlags binds --config and one flag per configuration field to a flag
// set. The values are only recorded at parse time and applied over the file
// by load, so that flags win whatever their position.
type configFlags struct {
	path   string
	values map[string]*overrideValue // by flag name, only when set
	order  []string
}

// overrideValue records the raw strings given for one field's flag.
type overrideValue struct {
	field configField
	raw   []string
	set   func(name string) // marks the flag as given
}

func (o *overrideValue) String() string { return strings.Join(o.raw, ",") }

func (o *overrideValue) Set(s string) error {
	if err := parseOverride(o.field, s, new(agent.Config)); err != nil {
		return err
	}
	o.raw = append(o.raw, s)
	o.set(o.field.flagName())
	return nil
}

func bindConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{values: map[string]*overrideValue{}}
	fs.StringVar(&cf.path, "config", "", "node configuration `file` (default "+defaultConfigPath+")")
	for _, f := range configFields() {
		v := &overrideValue{field: f}
		v.set = func(name string) {
			if cf.values[name] == nil {
				cf.values[name] = v
				cf.order = append(cf.order, name)
			}
		}
		fs.Var(v, f.flagName(), flagUsage(f))
	}
	return cf
}

func flagUsage(f configField) string {
	switch {
	case f.typ == durationType:
		return "overrides " + f.path + " (a duration: 30s, 5m)"
	case f.typ.Kind() == reflect.Map:
		return "overrides " + f.path + " (key=value, repeatable)"
	case f.typ.Kind() == reflect.Slice:
		return "overrides " + f.path + " (comma-separated, repeatable)"
	}
	return "overrides " + f.path
}

// load reads the configuration: defaults, then the file, then the flags, then
// validation. The default file may be missing; an explicit --config may not.
func (cf *configFlags) load() (agent.Config, error) {
	return cf.loadValidated(agent.Config.Validate)
}

// loadLocal is load for commands that do not follow the source.
func (cf *configFlags) loadLocal() (agent.Config, error) {
	return cf.loadValidated(agent.Config.ValidateLocal)
}

func (cf *configFlags) loadValidated(validate func(agent.Config) error) (agent.Config, error) {
	host, _ := os.Hostname()
	cfg := agent.DefaultConfig(strings.ToLower(host))
	path, explicit := cf.path, cf.path != ""
	if !explicit {
		path = defaultConfigPath
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeConfigFile(path, data, &cfg); err != nil {
			return cfg, err
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := cf.apply(&cfg); err != nil {
		return cfg, err
	}
	if err := validate(cfg); err != nil {
		return cfg, fmt.Errorf("invalid configuration (%s and flags):\n%w", path, err)
	}
	return cfg, nil
}

// apply sets every field whose flag was given, replacing the file's value.
func (cf *configFlags) apply(cfg *agent.Config) error {
	for _, name := range cf.order {
		v := cf.values[name]
		reflect.ValueOf(cfg).Elem().FieldByIndex(v.field.index).SetZero()
		for _, raw := range v.raw {
			if err := parseOverride(v.field, raw, cfg); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseOverride parses one flag value into its field of cfg; maps and lists
// accumulate over repeated flags.
func parseOverride(f configField, raw string, cfg *agent.Config) error {
	v := reflect.ValueOf(cfg).Elem().FieldByIndex(f.index)
	switch {
	case f.typ == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration (use a unit: 500ms, 30s, 5m)", raw)
		}
		v.SetInt(int64(d))
	case f.typ.Kind() == reflect.String:
		v.SetString(raw)
	case f.typ.Kind() == reflect.Int:
		i, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		v.SetInt(int64(i))
	case f.typ.Kind() == reflect.Map:
		k, val, ok := strings.Cut(raw, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q must be key=value", raw)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(f.typ))
		}
		v.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(val))
	case f.typ.Kind() == reflect.Slice:
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				v.Set(reflect.Append(v, reflect.ValueOf(item)))
			}
		}
	default:
		return fmt.Errorf("unsupported field type %s", f.typ)
	}
	return nil
}
