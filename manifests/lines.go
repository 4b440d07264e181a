package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v4"
)

// This file finds where things are written. compose-go's errors and the
// normalized project carry no line numbers, so problems are located by
// walking the YAML node tree of the file as written, by key path.

// maxDepth bounds every walk over user-written YAML.
const maxDepth = 64

// parseYAML parses one YAML document and returns its top node (nil for an
// empty document). More than one document is refused: Compose would merge
// them, which makes "the file as written" ambiguous.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &yaml.LoadError{Message: "only one YAML document is allowed", Mark: yaml.Mark{Line: extra.Line}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	if err := uniqueKeys(doc.Content[0], 0); err != nil {
		return nil, err
	}
	if _, err := expandedSize(doc.Content[0], map[*yaml.Node]int{}, map[*yaml.Node]bool{}, 0); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
}

// maxExpanded bounds the size of a document with its aliases expanded. A
// real compose file is a few thousand nodes; an alias that contains itself
// or an alias bomb would otherwise keep compose-go busy for seconds.
const maxExpanded = 20000

// expandedSize counts the nodes of n with aliases expanded, refusing cycles
// and documents larger than maxExpanded. Sizes are memoized per node.
func expandedSize(n *yaml.Node, sizes map[*yaml.Node]int, visiting map[*yaml.Node]bool, depth int) (int, error) {
	if n == nil {
		return 0, nil
	}
	if s, ok := sizes[n]; ok {
		return s, nil
	}
	if visiting[n] || depth > 4*maxDepth {
		return 0, &yaml.LoadError{Message: "an alias refers to the node that contains it", Mark: yaml.Mark{Line: n.Line}}
	}
	visiting[n] = true
	total := 1
	children := n.Content
	if n.Kind == yaml.AliasNode {
		children = []*yaml.Node{n.Alias}
	}
	for _, c := range children {
		s, err := expandedSize(c, sizes, visiting, depth+1)
		if err != nil {
			return 0, err
		}
		if total += s; total > maxExpanded {
			return 0, &yaml.LoadError{Message: fmt.Sprintf("the document has more than %d nodes once its aliases are expanded", maxExpanded), Mark: yaml.Mark{Line: n.Line}}
		}
	}
	visiting[n] = false
	sizes[n] = total
	return total, nil
}

// uniqueKeys refuses a key written twice in one mapping: YAML forbids it,
// and which one wins would be a guess.
func uniqueKeys(n *yaml.Node, depth int) error {
	if n == nil || depth > maxDepth {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if first, dup := seen[k.Value]; dup {
				return &yaml.LoadError{Message: fmt.Sprintf("key %q is already defined at line %d", k.Value, first), Mark: yaml.Mark{Line: k.Line}}
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := uniqueKeys(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// entry is one key/value pair of a mapping, with aliases resolved.
type entry struct {
	key   *yaml.Node
	value *yaml.Node
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// entries lists the pairs of a mapping node in the order they are written,
// expanding merge keys (<<) so that merged keys are checked like written ones.
// A key written explicitly wins over a merged one, as in YAML.
func entries(n *yaml.Node) []entry {
	return entriesDepth(deref(n), 0)
}

func entriesDepth(n *yaml.Node, depth int) []entry {
	if n == nil || n.Kind != yaml.MappingNode || depth > maxDepth {
		return nil
	}
	var own, merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Value == "<<" && k.Tag != "!!str" {
			merged = append(merged, mergeSources(v, depth)...)
			continue
		}
		own = append(own, entry{key: k, value: v})
	}
	for _, m := range merged {
		if find(own, m.key.Value) == nil {
			own = append(own, m)
		}
	}
	return own
}

func mergeSources(v *yaml.Node, depth int) []entry {
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		var out []entry
		for _, item := range v.Content {
			out = append(out, entriesDepth(deref(item), depth+1)...)
		}
		return out
	}
	return entriesDepth(v, depth+1)
}

func find(es []entry, key string) *entry {
	for i := range es {
		if es[i].key.Value == key {
			return &es[i]
		}
	}
	return nil
}

// lookup walks path from n (mapping keys, or decimal indexes into
// sequences). It returns the node for the deepest element found and whether
// the whole path was found. For a mapping element the node is its key, so
// that the line points at "privileged:" rather than at "true".
func lookup(n *yaml.Node, path ...string) (*yaml.Node, bool) {
	var last *yaml.Node
	cur := deref(n)
	for _, p := range path {
		if cur == nil {
			return last, false
		}
		switch cur.Kind {
		case yaml.MappingNode:
			e := find(entries(cur), p)
			if e == nil {
				return last, false
			}
			last, cur = e.key, e.value
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(cur.Content) {
				return last, false
			}
			cur = deref(cur.Content[i])
			last = cur
		default:
			return last, false
		}
	}
	return last, true
}

// lineOf is the line of the deepest element of path found in n, or 0.
func lineOf(n *yaml.Node, path ...string) int {
	found, _ := lookup(n, path...)
	if found == nil {
		return 0
	}
	return found.Line
}

// valueAt returns the value node at path, or nil.
func valueAt(n *yaml.Node, path ...string) *yaml.Node {
	cur := deref(n)
	for _, p := range path {
		if cur == nil {
			return nil
		}
		switch cur.Kind {
		case yaml.MappingNode:
			e := find(entries(cur), p)
			if e == nil {
				return nil
			}
			cur = e.value
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(cur.Content) {
				return nil
			}
			cur = deref(cur.Content[i])
		default:
			return nil
		}
	}
	return cur
}
