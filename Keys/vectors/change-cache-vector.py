# Computes a change-cache vector (format version 2) from the written specification (docs/formats.md,
# "Change cache"). Run: python3 Keys/vectors/change-cache-vector.py  (needs python3-cryptography); prints
# the changeCache vector.
import hmac, hashlib, json, struct
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.poly1305 import Poly1305

id_key = bytes.fromhex("8f6e2ba039fa217f156b90ec8b90fe1c2b7dd1c0e92f479ab037d772e75b859e")
vm_id = "0c8a3f4e-1d2b-4c5a-9e7f-6b1a2c3d4e5f"
disk_id = "7f6e5d4c-3b2a-4918-8776-655443322110"
chunk_size = 256 * 1024
disk_size = chunk_size + 10000         # two positions; the second holds 10,000 bytes (three blocks)
position = 1
content = bytes((i * 37 + 11) & 0xff for i in range(10000))
nonce = bytes(range(0x90, 0xa0))
base = bytes(range(0x40, 0x60))
bitmap = bytes([0b101]) + bytes(7)     # blocks 0 and 2 differ from the base
block = 4096

def hkdf(info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(id_key)

file_key = hkdf("tresor change cache v2 file")
tag_key = hkdf("tresor change cache v2 tag")
owner = hmac.new(file_key, f"owner\0{vm_id}\0{disk_id}".encode(), hashlib.sha256).digest()

blocks = (chunk_size + block - 1) // block                  # per record: 64 tags
bitmap_bytes = ((blocks + 7) // 8 + 7) // 8 * 8             # 8
record_size = 16 + 32 + 32 + bitmap_bytes + 8 * blocks + 16  # 616

seed = hmac.new(tag_key, nonce + struct.pack("<Q", position), hashlib.sha256).digest()
content_blocks = [content[i:i + block] for i in range(0, len(content), block)]
encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
keys = encryptor.update(bytes(32 * len(content_blocks))) + encryptor.finalize()
tags = b"".join(Poly1305.generate_tag(keys[32 * j:32 * j + 32], b)[:8] for j, b in enumerate(content_blocks))
chunk_id = hmac.new(id_key, content, hashlib.sha256).digest()

header = b"TRCC" + bytes([2, 0, 0, 0]) + struct.pack("<IIQQ", chunk_size, record_size, disk_size, 2) + owner
body = nonce + chunk_id + base + bitmap + tags + bytes(8 * blocks - len(tags))
mac = hmac.new(file_key, header + struct.pack("<Q", position) + body, hashlib.sha256).digest()[:16]
record = body + mac
assert len(record) == record_size
file = header + bytes(record_size) + record    # position 0 holds no record
print(json.dumps({"idKey": id_key.hex(), "vmID": vm_id, "diskID": disk_id, "chunkSize": chunk_size, "diskSize": disk_size,
                  "position": position, "content": content.hex(), "nonce": nonce.hex(), "base": base.hex(), "bitmap": bitmap.hex(),
                  "seed": seed.hex(), "tags": tags.hex(), "chunkID": chunk_id.hex(), "record": record.hex(),
                  "fileName": owner[:16].hex() + ".tcc", "file": file.hex()}))
