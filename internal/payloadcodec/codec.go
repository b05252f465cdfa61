package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata written on every encrypted payload. The encoding value follows the
// convention of Temporal's encryption samples, so tools that know it (and
// people reading a raw history) recognise an encrypted payload.
const (
	MetadataEncoding        = converter.MetadataEncoding // "encoding"
	EncodingEncrypted       = "binary/encrypted"
	MetadataEncryptionKeyID = "encryption-key-id"
)

// Codec is a converter.PayloadCodec that encrypts with the first of its keys
// and decrypts with any of them.
//
// An encrypted payload's data is nonce (12 bytes) || AES-256-GCM(serialized
// original payload), with the key ID as additional authenticated data: the
// original metadata (json/plain, ...) is hidden and restored on decode, and a
// payload relabelled with another key ID fails authentication.
type Codec struct {
	encryptKeyID string
	aeads        map[string]cipher.AEAD
	keyIDs       []string
	// source says where the keys came from, so an error about a missing key
	// can say where to add it.
	source string
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New builds a codec; keys[0] encrypts. source describes where the keys came
// from ("codec key file /etc/infraflow/codec-keys", "$INFRAFLOW_CODEC_KEYS").
func New(keys []Key, source string) (*Codec, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("payload codec: no keys in %s", source)
	}
	c := &Codec{encryptKeyID: keys[0].ID, aeads: map[string]cipher.AEAD{}, source: source}
	for _, k := range keys {
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("payload codec: key ID %q appears twice in %s", k.ID, source)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("payload codec: key %q in %s: %w", k.ID, source, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("payload codec: key %q in %s: %w", k.ID, source, err)
		}
		c.aeads[k.ID] = aead
		c.keyIDs = append(c.keyIDs, k.ID)
	}
	return c, nil
}

// EncryptKeyID is the ID of the key new payloads are encrypted with.
func (c *Codec) EncryptKeyID() string { return c.encryptKeyID }

// KeyIDs lists every key ID this codec holds, the encrypting one first.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.keyIDs...) }

// Source says where the keys came from.
func (c *Codec) Source() string { return c.source }

// Encode encrypts every payload with the encrypting key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.encryptKeyID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypting payload %d: serializing it: %w", i, err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("encrypting payload %d: reading a random nonce: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding:        []byte(EncodingEncrypted),
				MetadataEncryptionKeyID: []byte(c.encryptKeyID),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.encryptKeyID)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes every other payload through
// unchanged, so histories written before encryption was turned on still read.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		decoded, err := c.decrypt(p)
		if err != nil {
			return payloads, err
		}
		out[i] = decoded
	}
	return out, nil
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	keyID := string(p.GetMetadata()[MetadataEncryptionKeyID])
	if keyID == "" {
		return nil, fmt.Errorf("payload is marked %s but names no key (metadata %q is missing); it was not written by infraflow's codec", EncodingEncrypted, MetadataEncryptionKeyID)
	}
	aead, ok := c.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("payload encrypted with key %q, which this process does not hold; add it to %s (keys held: %s)",
			keyID, c.source, strings.Join(c.keyIDs, ", "))
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("payload encrypted with key %q is truncated (%d bytes); it was damaged in storage or transit", keyID, len(data))
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(keyID))
	if err != nil {
		return nil, fmt.Errorf("payload encrypted with key %q failed authentication: it was altered, or the key named %q in %s is not the key that encrypted it", keyID, keyID, c.source)
	}
	var original commonpb.Payload
	if err := proto.Unmarshal(plain, &original); err != nil {
		return nil, fmt.Errorf("payload encrypted with key %q decrypted but is not a serialized payload: %w", keyID, err)
	}
	return &original, nil
}

// DataConverter wraps the SDK's default converter with the codec; every
// client, worker and chat server of infraflow uses it.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
