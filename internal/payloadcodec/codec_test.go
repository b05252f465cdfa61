package payloadcodec

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

const marker = "marker-7f3c-do-not-store-in-plain-text"

func mustKey(t *testing.T, id string) Key {
	t.Helper()
	k, err := NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t *testing.T, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys, "test keys")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encodeOne(t *testing.T, c *Codec, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestRoundTripHidesDataAndMetadata(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	original := jsonPayload(t, map[string]string{"config": marker})
	enc := encodeOne(t, c, original)

	if got := string(enc.Metadata[MetadataEncoding]); got != EncodingEncrypted {
		t.Errorf("encoding metadata = %q, want %q", got, EncodingEncrypted)
	}
	if got := string(enc.Metadata[MetadataEncryptionKeyID]); got != "k1" {
		t.Errorf("key ID metadata = %q, want k1", got)
	}
	if bytes.Contains(enc.Data, []byte(marker)) || bytes.Contains(enc.Data, []byte("json/plain")) {
		t.Errorf("encrypted data contains the plain text or the original encoding: %q", enc.Data)
	}
	// Encrypting the same payload twice must not give the same bytes (fresh nonce).
	if again := encodeOne(t, c, original); bytes.Equal(again.Data, enc.Data) {
		t.Error("two encryptions of one payload are identical: the nonce is not fresh")
	}

	dec, err := c.Decode([]*commonpb.Payload{enc})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &back); err != nil {
		t.Fatal(err)
	}
	if back["config"] != marker || string(dec[0].Metadata[MetadataEncoding]) != "json/plain" {
		t.Errorf("round trip gave %v with metadata %v", back, dec[0].Metadata)
	}
}

func TestDataConverterEncryptsThroughTheSDK(t *testing.T) {
	dc := DataConverter(mustCodec(t, mustKey(t, "k1")))
	p, err := dc.ToPayload(marker)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte(marker)) {
		t.Fatal("the data converter stored the value in plain text")
	}
	var back string
	if err := dc.FromPayload(p, &back); err != nil || back != marker {
		t.Fatalf("FromPayload = %q, %v", back, err)
	}
}

func TestRotationNewestKeyEncryptsOldKeysDecrypt(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	old := encodeOne(t, mustCodec(t, k1), jsonPayload(t, marker))

	rotated := mustCodec(t, k2, k1)
	if rotated.EncryptKeyID() != "k2" {
		t.Fatalf("encrypting key = %q, want the first listed, k2", rotated.EncryptKeyID())
	}
	dec, err := rotated.Decode([]*commonpb.Payload{old})
	if err != nil {
		t.Fatalf("a codec holding [k2, k1] cannot read a k1 payload: %v", err)
	}
	var back string
	_ = converter.GetDefaultDataConverter().FromPayload(dec[0], &back)
	if back != marker {
		t.Errorf("decoded %q", back)
	}
	fresh := encodeOne(t, rotated, jsonPayload(t, "new"))
	if got := string(fresh.Metadata[MetadataEncryptionKeyID]); got != "k2" {
		t.Errorf("new payload key ID = %q, want k2", got)
	}
}

func TestMissingKeyNamesTheKeyAndWhereToAddIt(t *testing.T) {
	enc := encodeOne(t, mustCodec(t, mustKey(t, "k1")), jsonPayload(t, marker))
	_, err := mustCodec(t, mustKey(t, "k2")).Decode([]*commonpb.Payload{enc})
	if err == nil {
		t.Fatal("decoding with the wrong key succeeded")
	}
	for _, want := range []string{`key "k1"`, "does not hold", "add it to test keys", "keys held: k2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestTamperedPayloadFailsAuthentication(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	for name, tamper := range map[string]func(p *commonpb.Payload){
		"flipped ciphertext bit": func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 0x01 },
		"flipped nonce bit":      func(p *commonpb.Payload) { p.Data[0] ^= 0x80 },
		"truncated":              func(p *commonpb.Payload) { p.Data = p.Data[:10] },
	} {
		t.Run(name, func(t *testing.T) {
			enc := encodeOne(t, c, jsonPayload(t, marker))
			tamper(enc)
			_, err := c.Decode([]*commonpb.Payload{enc})
			if err == nil || !strings.Contains(err.Error(), `key "k1"`) {
				t.Fatalf("tampered payload: err = %v, want an error naming key k1", err)
			}
		})
	}
	t.Run("same key ID, other key material", func(t *testing.T) {
		enc := encodeOne(t, c, jsonPayload(t, marker))
		_, err := mustCodec(t, mustKey(t, "k1")).Decode([]*commonpb.Payload{enc})
		if err == nil || !strings.Contains(err.Error(), "failed authentication") {
			t.Fatalf("err = %v, want failed authentication", err)
		}
	})
	t.Run("relabelled key ID", func(t *testing.T) {
		// Same key material under two IDs: only binding the ID into the
		// authenticated data notices the relabelling.
		k1 := mustKey(t, "k1")
		both := mustCodec(t, k1, Key{ID: "k2", Secret: k1.Secret})
		enc := encodeOne(t, both, jsonPayload(t, marker))
		enc.Metadata[MetadataEncryptionKeyID] = []byte("k2")
		if _, err := both.Decode([]*commonpb.Payload{enc}); err == nil || !strings.Contains(err.Error(), "failed authentication") {
			t.Fatalf("err = %v, want failed authentication", err)
		}
	})
}

func TestUnencryptedPayloadsPassThroughDecode(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	plain := []*commonpb.Payload{jsonPayload(t, marker), {Metadata: map[string][]byte{"encoding": []byte("binary/null")}}}
	out, err := c.Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if out[i] != plain[i] {
			t.Errorf("payload %d was changed by decode", i)
		}
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k-2.b")
	text := "# comment\n\n" + FormatKeys([]Key{k1, k2})
	keys, err := ParseKeys(text, "file")
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || !bytes.Equal(keys[1].Secret, k2.Secret) {
		t.Fatalf("ParseKeys = %v, %v", keys, err)
	}
	// The environment form: comma separated.
	inline := strings.ReplaceAll(strings.TrimSpace(FormatKeys([]Key{k1, k2})), "\n", ",")
	if keys, err := ParseKeys(inline, "env"); err != nil || len(keys) != 2 {
		t.Fatalf("comma separated: %v, %v", keys, err)
	}
	for text, want := range map[string]string{
		"":                        "holds no keys",
		"k1":                      "want id:base64key",
		"k1:!!!":                  "not valid standard base64",
		"k1:c2hvcnQ=":             "is 5 bytes",
		"bad id:" + b64(32):       "key ID",
		FormatKeys([]Key{k1, k1}): "listed twice",
	} {
		_, err := ParseKeys(text, "file")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q) = %v, want an error containing %q", text, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error message shows key material: %v", err)
		}
	}
}

func b64(n int) string {
	return strings.TrimSpace(FormatKeys([]Key{{ID: "x", Secret: make([]byte, n)}}))[2:]
}
