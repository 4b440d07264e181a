package sopsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v4"
)

// yamlDoc keeps the parsed YAML documents: decryption writes each leaf's
// plaintext back into its node, and decrypts the comments in place.
type yamlDoc struct {
	docs []*yaml.Node // document nodes
}

// maxYAMLNodes bounds what one YAML file may expand to through aliases.
const maxYAMLNodes = 1 << 20

// parseYAML reads every document of a YAML stream into the tree sops walks,
// as sops' YAML store does: the top level of each document is a mapping (or
// empty); the "sops" entry of the first one is the metadata and is dropped
// from all of them.
func parseYAML(data []byte) (*File, mapping, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	f := &File{yaml: &yamlDoc{}}
	var meta mapping
	budget := maxYAMLNodes
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parse YAML: %w", err)
		}
		m, err := yamlTop(&doc, &budget)
		if err != nil {
			return nil, nil, fmt.Errorf("YAML document %d: %w", i+1, err)
		}
		if v, ok := m.get("sops"); ok && i == 0 {
			if meta, ok = v.(mapping); !ok {
				return nil, nil, errors.New("the sops entry is not a mapping")
			}
		}
		f.docs = append(f.docs, m.without("sops"))
		f.yaml.docs = append(f.yaml.docs, &doc)
	}
	return f, meta, nil
}

// yamlTop reads the top level of a document.
func yamlTop(doc *yaml.Node, budget *int) (mapping, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return mapping{}, nil
	}
	top := doc.Content[0]
	if top.Kind == yaml.AliasNode {
		top = top.Alias
	}
	switch {
	case top.Kind == yaml.MappingNode:
		v, err := yamlValue(top, budget)
		if err != nil {
			return nil, err
		}
		return v.(mapping), nil
	case top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null":
		return mapping{}, nil
	}
	return nil, errors.New("the top level must be a mapping")
}

func yamlValue(n *yaml.Node, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("document too large once its aliases are expanded")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return yamlValue(n.Alias, budget)
	case yaml.SequenceNode:
		out := make(sequence, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := yamlValue(item, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(mapping, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				return nil, fmt.Errorf("line %d: only string keys are supported", k.Line)
			}
			v, err := yamlValue(n.Content[i+1], budget)
			if err != nil {
				return nil, err
			}
			out = append(out, entry{key: k.Value, val: v})
		}
		return out, nil
	case yaml.ScalarNode:
		v, err := yamlScalar(n)
		return &scalar{v: v, node: n}, err
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// yamlScalar decodes a scalar as sops (through go-yaml v3) does when it
// decodes into an interface: timestamps are times.
func yamlScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!str":
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

// emit writes the documents back, each leaf holding its plaintext, the
// comments decrypted and the metadata removed, with sops' indentation.
func (y *yamlDoc) emit(docs []mapping, key []byte) ([]byte, error) {
	for _, d := range docs {
		err := walk(d, nil, func(s *scalar, _ []string) error {
			if !s.opened || s.node == nil {
				return nil
			}
			return setNode(s.node, s.v)
		})
		if err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(4)
	for _, doc := range y.docs {
		if len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
			top := doc.Content[0]
			top.Content = withoutKey(top.Content, "sops")
			decryptComments(doc, key)
		}
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("write YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func withoutKey(content []*yaml.Node, key string) []*yaml.Node {
	out := make([]*yaml.Node, 0, len(content))
	for i := 0; i+1 < len(content); i += 2 {
		if content[i].Value != key {
			out = append(out, content[i], content[i+1])
		}
	}
	return out
}

// setNode makes n the scalar YAML writes for v, keeping its comments.
func setNode(n *yaml.Node, v any) error {
	if c, ok := v.(comment); ok {
		v = string(c)
	}
	var fresh yaml.Node
	if err := fresh.Encode(v); err != nil {
		return fmt.Errorf("line %d: write a plaintext value: %w", n.Line, err)
	}
	n.Kind, n.Tag, n.Value, n.Style, n.Content = fresh.Kind, fresh.Tag, fresh.Value, fresh.Style, fresh.Content
	return nil
}

// decryptComments decrypts the comments sops encrypted (#ENC[…] lines),
// each with the path of the mapping or sequence sops read it into: the
// container of the node that carries it, or for a mapping's or sequence's
// own comments, that mapping or sequence. A comment that does not open is
// kept as it is, as sops does (it may have been written unencrypted).
func decryptComments(doc *yaml.Node, key []byte) {
	fix := func(n *yaml.Node, path []string) {
		aad := additionalData(path)
		for _, c := range []*string{&n.HeadComment, &n.LineComment, &n.FootComment} {
			*c = decryptCommentLines(*c, key, aad)
		}
	}
	fix(doc, nil)
	top := doc.Content[0]
	fix(top, nil)
	containerComments(top, nil, fix)
}

func containerComments(n *yaml.Node, path []string, fix func(*yaml.Node, []string)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			fix(k, path)
			switch v.Kind {
			case yaml.MappingNode, yaml.SequenceNode:
				child := append(path[:len(path):len(path)], k.Value)
				fix(v, child)
				containerComments(v, child, fix)
			default:
				fix(v, path)
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			fix(item, path)
			if item.Kind == yaml.MappingNode || item.Kind == yaml.SequenceNode {
				containerComments(item, path, fix)
			}
		}
	}
}

func decryptCommentLines(c string, key []byte, aad string) string {
	if !strings.Contains(c, "ENC[") {
		return c
	}
	lines := strings.Split(c, "\n")
	for i, l := range lines {
		body, ok := strings.CutPrefix(strings.TrimLeft(l, " \t"), "#")
		if !ok {
			continue
		}
		if v, err := open(key, body, aad); err == nil {
			if text, isComment := v.(comment); isComment {
				lines[i] = "#" + string(text)
			}
		}
	}
	return strings.Join(lines, "\n")
}
