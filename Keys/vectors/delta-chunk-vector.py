# Computes a delta chunk-object vector from the written specification (docs/formats.md).
# Run: python3 Keys/vectors/delta-chunk-vector.py  (needs python3-cryptography); prints the deltaChunkObject vector.
import hmac, hashlib, json, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

id_key = bytes.fromhex("8f6e2ba039fa217f156b90ec8b90fe1c2b7dd1c0e92f479ab037d772e75b859e")
data_key = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
data_key_id = bytes.fromhex("404142434445464748494a4b4c4d4e4f")
length = 3 * 4096 + 100
base = bytes((i * 31) & 0xff for i in range(length))
chunk = bytearray(base)
chunk[5] ^= 1
chunk[length - 1] ^= 0xff
chunk = bytes(chunk)
base_id = hmac.new(id_key, base, hashlib.sha256).digest()
chunk_id = hmac.new(id_key, chunk, hashlib.sha256).digest()

def seal(version, payload, cid, nonce, base_ref=None):
    header = b"TRCK" + bytes([version, 0, 0, 0]) + cid + data_key_id + struct.pack("<II", length, len(payload))
    if base_ref is not None:
        header += base_ref
    header += nonce
    sealed = AESGCM(data_key).encrypt(nonce, payload, header)
    return header + sealed

blocks = (length + 4095) // 4096
bitmap = bytearray((blocks + 7) // 8)
out = b""
for b in range(blocks):
    s, e = b * 4096, min(length, (b + 1) * 4096)
    if chunk[s:e] != base[s:e]:
        bitmap[b // 8] |= 1 << (b % 8)
        out += chunk[s:e]
payload = bytes(bitmap) + out
base_object = seal(1, base, base_id, bytes(range(0x70, 0x7c)))
delta_object = seal(2, payload, chunk_id, bytes(range(0x80, 0x8c)), base_id)
print(json.dumps({"idKey": id_key.hex(), "dataKey": data_key.hex(), "dataKeyID": data_key_id.hex(),
                  "baseObject": base_object.hex(), "baseID": base_id.hex(), "deltaObject": delta_object.hex(),
                  "chunkID": chunk_id.hex(), "plaintext": chunk.hex()}))
