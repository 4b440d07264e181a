package sopsfile

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// envLine is one line of a dotenv file: a comment, or KEY=value.
type envLine struct {
	comment string // without its #
	key     string
	val     *scalar // nil for a comment
}

// The separators of flattened metadata keys: sops_age__list_0__map_enc.
const (
	flatMap  = "__map_"
	flatList = "__list_"
)

// parseDotenv reads a dotenv file as sops' dotenv store does: KEY=value
// lines (a literal \n in a value is a newline), # comments, and the
// metadata flattened into sops_* keys.
func parseDotenv(data []byte) (*File, mapping, error) {
	f := &File{}
	var doc mapping
	var flat []entry
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := string(raw)
		switch {
		case line == "":
			continue
		case line[0] == '#':
			f.dotenv = append(f.dotenv, envLine{comment: line[1:]})
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("line %d: not KEY=value", i+1)
		}
		s := &scalar{v: strings.ReplaceAll(val, `\n`, "\n")}
		if rest, meta := strings.CutPrefix(key, "sops_"); meta {
			flat = append(flat, entry{key: rest, val: s})
			continue
		}
		f.dotenv = append(f.dotenv, envLine{key: key, val: s})
		doc = append(doc, entry{key: key, val: s})
	}
	f.docs = []mapping{doc}
	if flat == nil {
		return f, nil, nil
	}
	meta, err := unflatten(flat)
	if err != nil {
		return nil, nil, fmt.Errorf("sops metadata: %w", err)
	}
	return f, meta, nil
}

// flatNode is one node of an unflattened tree.
type flatNode struct {
	leaf    *scalar
	keys    map[string]*flatNode
	indices map[int]*flatNode
}

// unflatten rebuilds the nested metadata from flattened keys.
func unflatten(flat []entry) (mapping, error) {
	root := &flatNode{}
	for _, e := range flat {
		n := root
		for _, tok := range tokens(e.key) {
			n = n.child(tok)
		}
		if n.leaf != nil || n.keys != nil || n.indices != nil {
			return nil, fmt.Errorf("sops_%s is set twice", e.key)
		}
		n.leaf = e.val.(*scalar)
	}
	v, err := root.value()
	if err != nil {
		return nil, err
	}
	m, ok := v.(mapping)
	if !ok {
		return nil, errors.New("not a mapping")
	}
	return m, nil
}

// token is a key of a mapping, or a position in a list (list true).
type token struct {
	key  string
	pos  int
	list bool
}

func tokens(key string) []token {
	var out []token
	cur := token{}
	for {
		i, j := strings.Index(key, flatMap), strings.Index(key, flatList)
		next, sepLen, isList := i, len(flatMap), false
		if next < 0 || (j >= 0 && j < next) {
			next, sepLen, isList = j, len(flatList), true
		}
		if next < 0 {
			cur.set(key)
			return append(out, cur)
		}
		cur.set(key[:next])
		out = append(out, cur)
		cur = token{list: isList}
		key = key[next+sepLen:]
	}
}

func (t *token) set(s string) {
	if t.list {
		t.pos, _ = strconv.Atoi(s)
	} else {
		t.key = s
	}
}

func (n *flatNode) child(t token) *flatNode {
	if t.list {
		if n.indices == nil {
			n.indices = map[int]*flatNode{}
		}
		if n.indices[t.pos] == nil {
			n.indices[t.pos] = &flatNode{}
		}
		return n.indices[t.pos]
	}
	if n.keys == nil {
		n.keys = map[string]*flatNode{}
	}
	if n.keys[t.key] == nil {
		n.keys[t.key] = &flatNode{}
	}
	return n.keys[t.key]
}

func (n *flatNode) value() (any, error) {
	switch {
	case n.leaf != nil && n.keys == nil && n.indices == nil:
		return n.leaf, nil
	case n.leaf != nil || (n.keys != nil && n.indices != nil):
		return nil, errors.New("a key is both a value and a container")
	case n.indices != nil:
		out := make(sequence, len(n.indices))
		for i := range out {
			c, ok := n.indices[i]
			if !ok {
				return nil, fmt.Errorf("list without item %d", i)
			}
			v, err := c.value()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	keys := make([]string, 0, len(n.keys))
	for k := range n.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(mapping, 0, len(keys))
	for _, k := range keys {
		v, err := n.keys[k].value()
		if err != nil {
			return nil, err
		}
		out = append(out, entry{key: k, val: v})
	}
	return out, nil
}

// emitDotenv writes the plaintext file as sops does (newlines in values as
// \n, comments decrypted) and lists its variables.
func emitDotenv(lines []envLine, key []byte) *Plaintext {
	p := &Plaintext{}
	var b strings.Builder
	for _, l := range lines {
		if l.val == nil {
			text := l.comment
			if v, err := open(key, text, additionalData(nil)); err == nil {
				if c, ok := v.(comment); ok {
					text = string(c)
				}
			}
			b.WriteString("#" + text + "\n")
			continue
		}
		v := envString(l.val.v)
		p.Env = append(p.Env, EnvVar{Key: l.key, Value: v})
		b.WriteString(l.key + "=" + strings.ReplaceAll(v, "\n", `\n`) + "\n")
	}
	p.Data = []byte(b.String())
	return p
}

func envString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case comment:
		return string(x)
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
