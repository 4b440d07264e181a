package sopsfile

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// File is a parsed SOPS file: its metadata and its encrypted document.
type File struct {
	format Format
	meta   Metadata
	rule   rule
	docs   []mapping // the documents without the sops metadata
	yaml   *yamlDoc  // YAML: the nodes the plaintext is written into
	dotenv []envLine // dotenv: the lines, comments included
	opened bool
}

// Plaintext is a decrypted file.
type Plaintext struct {
	// Data is the plaintext file as `sops --decrypt` writes it: the
	// document without its metadata (for a binary file, its bytes).
	Data []byte
	// Env holds the variables of a dotenv file, in file order.
	Env []EnvVar
}

// EnvVar is one variable of a dotenv file.
type EnvVar struct {
	Key, Value string
}

// ErrMAC says that the file's MAC does not match its content: it was
// changed after sops encrypted it.
var ErrMAC = errors.New("MAC mismatch: the file was changed after it was encrypted (or the MAC was)")

// macOnlyEncryptedInit starts the MAC of files encrypted with
// mac_only_encrypted: the SHA-256 of "sops", so that such a MAC never equals
// one over every value.
var macOnlyEncryptedInit = []byte{
	0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
	0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
}

// Parse reads a SOPS file of the given format. It needs no key: it fails
// when the document does not parse or has no sops metadata
// (ErrNotEncrypted); Metadata().Check says whether a node could decrypt it.
func Parse(data []byte, f Format) (*File, error) {
	var (
		file *File
		meta mapping
		err  error
	)
	switch f {
	case YAML:
		file, meta, err = parseYAML(data)
	case Binary:
		if !json.Valid(data) {
			return nil, fmt.Errorf("%w: sops writes a binary file as a JSON document of its data and metadata", ErrNotEncrypted)
		}
		file, meta, err = parseJSON(data, f)
	case JSON:
		file, meta, err = parseJSON(data, f)
	case Dotenv:
		file, meta, err = parseDotenv(data)
	default:
		return nil, fmt.Errorf("sops format %d is not supported", f)
	}
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, ErrNotEncrypted
	}
	file.format = f
	if file.meta, err = readMetadata(meta); err != nil {
		return nil, err
	}
	return file, nil
}

// Metadata is the file's sops metadata.
func (f *File) Metadata() Metadata { return f.meta }

// EnvKeys lists the variables of a dotenv file, in file order; their names
// are never encrypted. It is empty for other formats.
func (f *File) EnvKeys() []string {
	var out []string
	for _, l := range f.dotenv {
		if l.val != nil {
			out = append(out, l.key)
		}
	}
	return out
}

// Decrypt decrypts every value with the data key, verifies the MAC as sops
// does, and returns the plaintext. It works on the parsed file in place: a
// File is decrypted once. Errors name paths and reasons, never plaintext.
func (f *File) Decrypt(key []byte) (*Plaintext, error) {
	if f.opened {
		return nil, errors.New("sops file already decrypted")
	}
	f.opened = true
	if err := f.meta.Check(); err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("data key of %d bytes, want 32", len(key))
	}
	var err error
	if f.rule, err = newRule(f.meta); err != nil {
		return nil, err
	}
	sum, err := f.decryptValues(key)
	if err != nil {
		return nil, err
	}
	if err := f.verifyMAC(key, sum); err != nil {
		return nil, err
	}
	return f.emit(key)
}

// decryptValues replaces every leaf by its plaintext and returns the MAC
// of the plaintexts.
func (f *File) decryptValues(key []byte) (string, error) {
	h := sha512.New()
	if f.meta.MACOnlyEncrypted {
		h.Write(macOnlyEncryptedInit)
	}
	visit := func(s *scalar, path []string) error {
		if s.v == nil {
			return nil // sops neither encrypts nor hashes nulls
		}
		enc := f.rule.encrypted(path)
		if enc {
			sealedValue, ok := s.v.(string)
			if !ok {
				return fmt.Errorf("value at %s: should be encrypted, but is a %T", pathString(path), s.v)
			}
			if sealedValue != "" { // sops leaves empty strings as they are
				v, err := open(key, sealedValue, additionalData(path))
				if err != nil {
					return fmt.Errorf("value at %s: %w", pathString(path), err)
				}
				s.v, s.opened = v, true
			}
		}
		if _, isComment := s.v.(comment); isComment || (f.meta.MACOnlyEncrypted && !enc) {
			return nil
		}
		b, err := macBytes(s.v)
		if err != nil {
			return fmt.Errorf("value at %s: %w", pathString(path), err)
		}
		h.Write(b)
		return nil
	}
	for _, d := range f.docs {
		if err := walk(d, nil, visit); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%X", h.Sum(nil)), nil
}

func (f *File) verifyMAC(key []byte, sum string) error {
	modified, err := time.Parse(time.RFC3339, f.meta.LastModified)
	if err != nil {
		return errors.New("sops.lastmodified is not an RFC 3339 time")
	}
	v, err := open(key, f.meta.MAC, modified.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("sops.mac: %w", ErrMAC)
	}
	want, ok := v.(string)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(sum)) != 1 {
		return ErrMAC
	}
	return nil
}

func (f *File) emit(key []byte) (*Plaintext, error) {
	switch f.format {
	case YAML:
		data, err := f.yaml.emit(f.docs, key)
		return &Plaintext{Data: data}, err
	case Dotenv:
		return emitDotenv(f.dotenv, key), nil
	case Binary:
		data, err := emitBinary(f.docs[0])
		return &Plaintext{Data: data}, err
	}
	data, err := emitJSON(f.docs[0])
	return &Plaintext{Data: data}, err
}

func pathString(path []string) string {
	if len(path) == 0 {
		return "the top level"
	}
	q := make([]byte, 0, 32)
	for i, p := range path {
		if i > 0 {
			q = append(q, '.')
		}
		q = append(q, p...)
	}
	return strconv.Quote(string(q))
}
