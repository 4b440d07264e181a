package sopsfile

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// sealed matches one value sops encrypted: AES-256-GCM, the ciphertext and
// the tag apart, and the type the plaintext is read back as.
var sealed = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// comment is a decrypted comment: kept out of the MAC.
type comment string

// errOpen says that a value did not open with the data key: the key is not
// this file's, or the value (or its place in the file) was changed.
var errOpen = errors.New("a value does not decrypt with the file's data key: the file was changed after it was encrypted")

// open decrypts one sealed value. Errors never carry the plaintext.
func open(key []byte, value, aad string) (any, error) {
	m := sealed.FindStringSubmatch(value)
	if m == nil {
		return nil, errors.New("a value that should be encrypted is not a sops ENC[…] value")
	}
	var parts [3][]byte
	for i := range parts {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, errors.New("a sealed value is not valid base64")
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if len(iv) == 0 || len(tag) != 16 {
		return nil, errors.New("a sealed value has a malformed IV or tag")
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return nil, errOpen
	}
	return typed(plain, m[4])
}

// typed reads a plaintext back as the type sops wrote it with.
func typed(plain []byte, typ string) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("a value of type %s does not read as one", typ)
	}
	s := string(plain)
	switch typ {
	case "str":
		return s, nil
	case "bytes":
		return plain, nil
	case "comment":
		return comment(s), nil
	case "int":
		n, err := strconv.Atoi(s)
		if err != nil {
			return bad()
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad()
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad()
		}
		return b, nil
	case "time":
		var t time.Time
		if err := t.UnmarshalText(plain); err != nil {
			return bad()
		}
		return t, nil
	}
	return nil, fmt.Errorf("a sealed value has the unknown type %q", typ)
}

// macBytes is what a leaf adds to the MAC, as sops writes it: integers in
// decimal, floats in the shortest form, booleans as True or False.
func macBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case int:
		return []byte(strconv.Itoa(x)), nil
	case float64:
		return []byte(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case bool:
		if x {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case time.Time:
		return x.MarshalText()
	}
	return nil, fmt.Errorf("a value of type %T cannot be part of a sops MAC", v)
}
