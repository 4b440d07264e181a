package sopsfile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Metadata is what the "sops" entry of a file says, as far as skiff needs it.
type Metadata struct {
	// Groups are the key groups: every recipient of a group can unwrap the
	// same data key (one group), or the same Shamir share of it (several
	// groups, ShamirThreshold of them needed).
	Groups                  []KeyGroup
	ShamirThreshold         int
	LastModified            string // as written, RFC 3339
	MAC                     string // sealed value, empty when missing
	MACOnlyEncrypted        bool
	UnencryptedSuffix       string
	EncryptedSuffix         string
	UnencryptedRegex        string
	EncryptedRegex          string
	UnencryptedCommentRegex string
	EncryptedCommentRegex   string
	Version                 string
}

// KeyGroup is one key group: its age recipients, and how many keys of
// other kinds (PGP, cloud KMS, Vault) it has, which a node cannot use.
type KeyGroup struct {
	Age    []AgeKey
	Others int
}

// AgeKey is one age recipient and the data key (or share) wrapped for it.
type AgeKey struct {
	Recipient string
	Enc       string // an armored age file
}

// ErrNotEncrypted says that a file has no sops metadata at all.
var ErrNotEncrypted = errors.New("not encrypted with sops: no sops metadata")

// otherKinds are the metadata keys of key kinds other than age.
var otherKinds = []string{"pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"}

// readMetadata decodes the metadata tree (nested, or unflattened from
// dotenv). Like sops, top-level keys win over key_groups.
func readMetadata(t mapping) (Metadata, error) {
	m := Metadata{
		LastModified:            str(t, "lastmodified"),
		MAC:                     str(t, "mac"),
		UnencryptedSuffix:       str(t, "unencrypted_suffix"),
		EncryptedSuffix:         str(t, "encrypted_suffix"),
		UnencryptedRegex:        str(t, "unencrypted_regex"),
		EncryptedRegex:          str(t, "encrypted_regex"),
		UnencryptedCommentRegex: str(t, "unencrypted_comment_regex"),
		EncryptedCommentRegex:   str(t, "encrypted_comment_regex"),
		Version:                 str(t, "version"),
	}
	var err error
	if s := str(t, "mac_only_encrypted"); s != "" {
		if m.MACOnlyEncrypted, err = strconv.ParseBool(s); err != nil {
			return m, fmt.Errorf("sops metadata mac_only_encrypted: %q is not a boolean", s)
		}
	}
	if s := str(t, "shamir_threshold"); s != "" {
		if m.ShamirThreshold, err = strconv.Atoi(s); err != nil || m.ShamirThreshold < 0 {
			return m, fmt.Errorf("sops metadata shamir_threshold: %q is not a count", s)
		}
	}
	top, err := keyGroup(t, "sops")
	if err != nil {
		return m, err
	}
	if len(top.Age)+top.Others > 0 {
		m.Groups = []KeyGroup{top}
		return m, nil
	}
	groups, _ := t.get("key_groups")
	seq, _ := groups.(sequence)
	for i, g := range seq {
		gm, ok := g.(mapping)
		if !ok {
			return m, fmt.Errorf("sops metadata key_groups[%d] is not a mapping", i)
		}
		kg, err := keyGroup(gm, fmt.Sprintf("sops.key_groups[%d]", i))
		if err != nil {
			return m, err
		}
		m.Groups = append(m.Groups, kg)
	}
	return m, nil
}

func keyGroup(t mapping, where string) (KeyGroup, error) {
	var g KeyGroup
	for _, kind := range otherKinds {
		if v, ok := t.get(kind); ok {
			s, _ := v.(sequence)
			g.Others += len(s)
		}
	}
	v, ok := t.get("age")
	if !ok {
		return g, nil
	}
	s, ok := v.(sequence)
	if !ok {
		return g, fmt.Errorf("%s.age is not a list", where)
	}
	for i, item := range s {
		km, ok := item.(mapping)
		if !ok {
			return g, fmt.Errorf("%s.age[%d] is not a mapping", where, i)
		}
		g.Age = append(g.Age, AgeKey{Recipient: strings.TrimSpace(str(km, "recipient")), Enc: str(km, "enc")})
	}
	return g, nil
}

// str is the value of key in t as a string, "" when it is missing or not
// a scalar.
func str(t mapping, key string) string {
	v, ok := t.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(*scalar)
	if !ok || s.v == nil {
		return ""
	}
	switch x := s.v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(s.v)
}

// Recipients lists the age recipients of every key group.
func (m Metadata) Recipients() []string {
	var out []string
	for _, g := range m.Groups {
		for _, k := range g.Age {
			out = append(out, k.Recipient)
		}
	}
	return out
}

// Threshold is how many key groups must be opened to recover the data key.
func (m Metadata) Threshold() int {
	if len(m.Groups) <= 1 {
		return 1
	}
	if m.ShamirThreshold <= 0 || m.ShamirThreshold > len(m.Groups) {
		return len(m.Groups)
	}
	return m.ShamirThreshold
}

// Check says what keeps any node from decrypting the file, without a key:
// no age recipient (or too few groups with one for the Shamir threshold), no
// MAC or no lastmodified to verify it with, or options skiff does not read.
func (m Metadata) Check() error {
	var errs []error
	withAge := 0
	for _, g := range m.Groups {
		if len(g.Age) > 0 {
			withAge++
		}
	}
	switch {
	case len(m.Recipients()) == 0:
		errs = append(errs, errors.New("no age recipient (sops.age is empty): skiff nodes decrypt with age only; encrypt with sops --age <recipient>"))
	case withAge < m.Threshold():
		errs = append(errs, fmt.Errorf("only %d of %d key groups have an age recipient and %d are needed: skiff nodes decrypt with age only", withAge, len(m.Groups), m.Threshold()))
	}
	for i, g := range m.Groups {
		for j, k := range g.Age {
			if k.Recipient == "" || k.Enc == "" {
				errs = append(errs, fmt.Errorf("age key %d of key group %d lacks its recipient or its wrapped data key", j, i))
			}
		}
	}
	if m.MAC == "" {
		errs = append(errs, errors.New("no MAC (sops.mac is missing): the file cannot be verified; encrypt it again with sops"))
	} else if !sealed.MatchString(m.MAC) {
		errs = append(errs, errors.New("sops.mac is not a sealed sops value"))
	}
	if _, err := time.Parse(time.RFC3339, m.LastModified); err != nil {
		errs = append(errs, errors.New("sops.lastmodified is missing or not an RFC 3339 time: the MAC cannot be verified"))
	}
	if _, err := newRule(m); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
