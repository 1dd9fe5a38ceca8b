# Computes a change-cache vector from the written specification (docs/formats.md, "Change cache").
# Run: python3 Keys/vectors/change-cache-vector.py  (needs python3-cryptography); prints the changeCache vector.
import hmac, hashlib, json, struct
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.poly1305 import Poly1305

id_key = bytes.fromhex("8f6e2ba039fa217f156b90ec8b90fe1c2b7dd1c0e92f479ab037d772e75b859e")
vm_id = "0c8a3f4e-1d2b-4c5a-9e7f-6b1a2c3d4e5f"
disk_id = "7f6e5d4c-3b2a-4918-8776-655443322110"
chunk_size = 256 * 1024
disk_size = chunk_size + 4096          # two chunk positions
content = bytes((i * 37 + 11) & 0xff for i in range(5000))
nonce = bytes(range(0x90, 0xa0))
index = 0

def hkdf(info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(id_key)

file_key = hkdf("tresor change cache v1 file")
tag_key = hkdf("tresor change cache v1 tag")
owner = hmac.new(file_key, f"owner\0{vm_id}\0{disk_id}".encode(), hashlib.sha256).digest()
one_time = hmac.new(tag_key, nonce + struct.pack("<Q", index), hashlib.sha256).digest()
tag = Poly1305.generate_tag(one_time, content)
chunk_id = hmac.new(id_key, content, hashlib.sha256).digest()

header = b"TRCC" + bytes([1, 0, 0, 0]) + struct.pack("<IIQQ", chunk_size, 0, disk_size, 2) + owner
entries = nonce + tag + chunk_id + bytes(64)    # position 1 holds no entry
body = header + entries
file = body + hmac.new(file_key, body, hashlib.sha256).digest()
print(json.dumps({"idKey": id_key.hex(), "vmID": vm_id, "diskID": disk_id, "chunkSize": chunk_size, "diskSize": disk_size,
                  "content": content.hex(), "nonce": nonce.hex(), "index": index, "tag": tag.hex(), "chunkID": chunk_id.hex(),
                  "fileName": owner[:16].hex() + ".tcc", "file": file.hex()}))
