package sopsfile

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"
)

// A document is read into the tree sops walks: mappings keep their order,
// sequences add nothing to a value's path, and leaves are scalars. Comments
// are not part of it: they count neither for the MAC nor for paths, and are
// handled per format.
type (
	mapping  []entry
	sequence []any // of mapping, sequence or *scalar
	entry    struct {
		key string
		val any // mapping, sequence or *scalar
	}
	// scalar is a leaf: a string, int, float64, bool or nil as read, then
	// its plaintext (also []byte or time.Time) once decrypted.
	scalar struct {
		v      any
		opened bool       // v is the plaintext of a sealed value
		node   *yaml.Node // YAML: where the plaintext is written back
	}
)

// walk calls fn for every leaf below v, in document order, with its path:
// the keys of the mappings above it.
func walk(v any, path []string, fn func(s *scalar, path []string) error) error {
	switch t := v.(type) {
	case mapping:
		for _, e := range t {
			if err := walk(e.val, append(path[:len(path):len(path)], e.key), fn); err != nil {
				return err
			}
		}
	case sequence:
		for _, item := range t {
			if err := walk(item, path, fn); err != nil {
				return err
			}
		}
	case *scalar:
		return fn(t, path)
	}
	return nil
}

// get returns the value of key in m.
func (m mapping) get(key string) (any, bool) {
	for _, e := range m {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// without returns m without the entries named key.
func (m mapping) without(key string) mapping {
	out := make(mapping, 0, len(m))
	for _, e := range m {
		if e.key != key {
			out = append(out, e)
		}
	}
	return out
}

// rule decides which leaves sops encrypted: at most one of the suffixes
// and regular expressions of the metadata is set (unencrypted_suffix
// "_unencrypted" when none is).
type rule struct {
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
}

func newRule(m Metadata) (rule, error) {
	r := rule{unencryptedSuffix: m.UnencryptedSuffix, encryptedSuffix: m.EncryptedSuffix}
	set := 0
	for _, s := range []string{m.UnencryptedSuffix, m.EncryptedSuffix, m.UnencryptedRegex, m.EncryptedRegex, m.UnencryptedCommentRegex, m.EncryptedCommentRegex} {
		if s != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return rule{}, fmt.Errorf("sops metadata sets more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex and encrypted_comment_regex")
	case m.UnencryptedCommentRegex != "" || m.EncryptedCommentRegex != "":
		return rule{}, fmt.Errorf("files encrypted with --unencrypted-comment-regex or --encrypted-comment-regex are not supported: encrypt with a key suffix or key regex instead")
	case set == 0:
		r.unencryptedSuffix = "_unencrypted"
	}
	var err error
	if m.UnencryptedRegex != "" {
		if r.unencryptedRegex, err = regexp.Compile(m.UnencryptedRegex); err != nil {
			return rule{}, fmt.Errorf("sops metadata unencrypted_regex: %w", err)
		}
	}
	if m.EncryptedRegex != "" {
		if r.encryptedRegex, err = regexp.Compile(m.EncryptedRegex); err != nil {
			return rule{}, fmt.Errorf("sops metadata encrypted_regex: %w", err)
		}
	}
	return r, nil
}

// encrypted reports whether sops encrypted the leaf at path.
func (r rule) encrypted(path []string) bool {
	someKey := func(match func(string) bool) bool {
		for _, k := range path {
			if match(k) {
				return true
			}
		}
		return false
	}
	switch {
	case r.unencryptedSuffix != "":
		return !someKey(func(k string) bool { return strings.HasSuffix(k, r.unencryptedSuffix) })
	case r.encryptedSuffix != "":
		return someKey(func(k string) bool { return strings.HasSuffix(k, r.encryptedSuffix) })
	case r.unencryptedRegex != nil:
		return !someKey(r.unencryptedRegex.MatchString)
	case r.encryptedRegex != nil:
		return someKey(r.encryptedRegex.MatchString)
	}
	return true
}

// additionalData is what a leaf at path was sealed with.
func additionalData(path []string) string {
	return strings.Join(path, ":") + ":"
}
