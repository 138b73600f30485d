#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora: fuzz/corpus/<target>/, a few tiny valid files and
a few invalid ones per reader (standard library only; deterministic, so a rerun changes
nothing). Usage: python3 fuzz/make_corpus.py

The seeds give libFuzzer a start inside each format; it mutates them from there. Invalid
seeds are ones whose error path is worth starting from (truncations, wrong dtypes, ...).
"""
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors: [u64 LE header length][JSON header][data]
def safetensors(tensors, metadata=None, raw_header=None):
    """tensors: list of (name, dtype, shape, data bytes)."""
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        data += blob
        off += len(blob)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode() + b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def st_corpus():
    t = "safetensors"
    put(t, "valid_f32", safetensors([("w", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6))], {"format": "pt"}))
    put(t, "valid_mixed", safetensors([
        ("a.f16", "F16", [2], struct.pack("<2H", 0x3C00, 0x7C00)),
        ("b.bf16", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x0001)),
        ("c.f64", "F64", [], struct.pack("<d", -2.5)),
        ("d.empty", "F32", [0, 4], b""),
    ]))
    put(t, "valid_empty_header", safetensors([]))
    good = safetensors([("w", "F32", [4], f32(1, 2, 3, 4))])
    put(t, "bad_truncated", good[:-3])
    put(t, "bad_dtype", safetensors([("w", "I64", [1], b"\0" * 8)]))
    put(t, "bad_overlap", safetensors([], raw_header=json.dumps({
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})) + b"\0" * 12)
    put(t, "bad_length", struct.pack("<Q", 1 << 40) + b"{}")


# ---- model files: safetensors with the model __metadata__ (fmnist_cnn: the small arch)
FMNIST = [("features.0.weight", [32, 1, 3, 3]), ("features.1.weight", [32]), ("features.1.bias", [32]),
          ("features.1.running_mean", [32]), ("features.1.running_var", [32]), ("features.4.weight", [64, 32, 3, 3]),
          ("features.5.weight", [64]), ("features.5.bias", [64]), ("features.5.running_mean", [64]),
          ("features.5.running_var", [64]), ("features.8.weight", [128, 64, 3, 3]), ("features.9.weight", [128]),
          ("features.9.bias", [128]), ("features.9.running_mean", [128]), ("features.9.running_var", [128]),
          ("classifier.1.weight", [128, 6272]), ("classifier.1.bias", [128]), ("classifier.4.weight", [10, 128]),
          ("classifier.4.bias", [10])]
MD = {"arch": "fmnist_cnn", "in_channels": "1", "num_classes": "10", "input_size": "28", "resize_size": "28",
      "mean": "0.286", "std": "0.353"}


def model_corpus():
    t = "model"
    put(t, "metadata_only", safetensors([], MD))
    put(t, "metadata_minimal", safetensors([], {"arch": "fmnist_cnn"}))
    # every name present, zero-size: the name checks pass, the shape check reports
    put(t, "names_no_shapes", safetensors([(n, "F16", [0], b"") for n, _ in FMNIST], MD))
    # in_channels and num_classes inferred from the first and last weights (F16 zeros)
    put(t, "infer_channels_classes", safetensors([
        ("features.0.weight", "F16", [32, 3, 3, 3], b"\0" * 2 * 32 * 27),
        ("classifier.4.weight", "F16", [7, 128], b"\0" * 2 * 7 * 128)], {"arch": "fmnist_cnn"}))
    put(t, "resnet_metadata", safetensors([], {"arch": "resnet18", "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25"}))
    put(t, "bad_mean", safetensors([], dict(MD, mean="0.1,x")))
    put(t, "bad_std", safetensors([], dict(MD, std="-1")))
    put(t, "bad_int", safetensors([], dict(MD, input_size="28px")))
    put(t, "bad_arch", safetensors([], {"arch": "lenet"}))
    put(t, "no_metadata", safetensors([("w", "F32", [1], f32(0))]))


# ---- NPY: magic, version, header length, dict literal padded to 64 bytes, data
def npy(descr, shape, data, major=1, fortran="False", raw=None):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    text = raw if raw is not None else "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    pre = 10 if major == 1 else 12
    text += " " * ((64 - (pre + len(text) + 1) % 64) % 64) + "\n"
    n = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + n + text.encode() + data


def npy_corpus():
    t = "npy"
    put(t, "valid_f4_2x3", npy("<f4", [2, 3], f32(1, 2, 3, 4, 5, 6)))
    put(t, "valid_f8_v2", npy("<f8", [3], struct.pack("<3d", 1, -2, 3.5), major=2))
    put(t, "valid_scalar_v3", npy("<f4", [], f32(7), major=3))
    put(t, "valid_empty", npy("<f4", [0, 5], b""))
    put(t, "valid_handwritten", npy("", [], f32(1, 2), raw='{"shape":(2L,),"descr":"<f4","fortran_order":False}'))
    put(t, "bad_fortran", npy("<f4", [2, 2], f32(1, 2, 3, 4), fortran="True"))
    put(t, "bad_dtype", npy("<i4", [2], b"\0" * 8))
    put(t, "bad_truncated", npy("<f4", [2, 3], f32(1, 2, 3)))
    put(t, "bad_version", b"\x93NUMPY\x04\x00" + b"\0" * 8)


# ---- IDX: 0 0 dtype ndim, big-endian u32 dims, bytes; plain or gzip
def idx(dims, data, dtype=8):
    return bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(data):
    return gzip.compress(data, mtime=0)


def idx_corpus():
    t = "idx"
    images = idx([2, 3, 3], bytes(range(18)))
    put(t, "valid_images", images)
    put(t, "valid_images_gz", gz(images))
    put(t, "valid_labels_gz", gz(idx([5], bytes([0, 1, 2, 9, 3]))))
    put(t, "valid_empty", idx([0, 28, 28], b""))
    put(t, "bad_truncated_gz", gz(images)[:-6])
    put(t, "bad_trailing", images + b"\x07")
    put(t, "bad_dtype", idx([2], b"\0" * 8, dtype=0x0D))
    put(t, "bad_claims_more", idx([1000, 1000], b"\1\2\3"))


# ---- responses CSV (image fields name fuzz_csv.cpp: it exists next to the target)
def csv_corpus():
    t = "csv"
    img = "fuzz_csv.cpp"
    put(t, "valid_simple", "image,category,n1,n2\n%s,body,1.5,2\n%s,face,-3,4e2\n" % (img, img))
    put(t, "valid_repeats_quotes", '\ufeffimage,category,"n1#1",n1#2,n2\r\n"%s","a ""b""",1,2,3\r\n\r\n%s,c,4,5,6\n'
        % (img, img))
    put(t, "bad_missing_image", "image,category,n1\nnothere.png,body,1\n")
    put(t, "bad_number", "image,category,n1\n%s,body,abc\n" % img)
    put(t, "bad_repeat_gap", "image,category,n1#2\n%s,body,1\n" % img)
    put(t, "bad_quote", 'image,category,n1\n"%s,body,1\n' % img)
    put(t, "bad_header", "img,cat\n")


# ---- images: PNG, BMP, TGA, PNM, GIF, PSD, HDR, JPEG
def png(w, h, color_type, rows, bit_depth=8, plte=b""):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + r for r in rows)  # filter 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)) +
            (chunk(b"PLTE", plte) if plte else b"") + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def bmp24(w, h, px):
    stride = (w * 3 + 3) & ~3
    rows = b"".join(bytes(px[y * w * 3:(y + 1) * w * 3]) + b"\0" * (stride - w * 3) for y in reversed(range(h)))
    return (b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54) +
            struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0) + rows)


def tga_gray(w, h, px):
    return struct.pack("<BBBHHBHHHHBB", 0, 0, 3, 0, 0, 0, 0, 0, w, h, 8, 0) + bytes(px)


def psd_rgb(w, h, px):
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    planes = b"".join(bytes(px[c::3]) for c in range(3))
    return head + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + planes


def image_corpus():
    t = "image"
    w, h = 4, 3
    rgb = [(i * 37 + c * 80) % 256 for i in range(w * h) for c in range(3)]
    gray = [(i * 21) % 256 for i in range(w * h)]
    put(t, "rgb.png", png(w, h, 2, [bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h)]))
    put(t, "gray.png", png(w, h, 0, [bytes(gray[y * w:(y + 1) * w]) for y in range(h)]))
    put(t, "rgba16.png", png(2, 2, 6, [b"\x12\x34" * 8] * 2, bit_depth=16))
    put(t, "palette.png", png(2, 2, 3, [b"\0\1", b"\1\0"], plte=b"\xff\0\0\0\0\xff"))
    put(t, "rgb.bmp", bmp24(w, h, rgb))
    put(t, "gray.tga", tga_gray(w, h, gray))
    put(t, "gray.pgm", b"P5\n4 3\n255\n" + bytes(gray))
    put(t, "rgb.ppm", b"P6\n4 3\n255\n" + bytes(rgb))
    put(t, "pixel.gif", bytes.fromhex("4749463839610100010080000000ffffff00000021f90401000000002c00000000010001000002024401003b"))
    put(t, "rgb.psd", psd_rgb(w, h, rgb))
    put(t, "flat.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + b"\x80\x40\x20\x81" * 4)
    # 4x3 RGB, quality 50, written by stb_image_write's stbi_write_jpg (baseline JPEG)
    put(t, "rgb.jpg", bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb008400100b0c0e0c0a100e0d0e1211101318281a181616183123"
        "251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c65676301111212181518"
        "2f1a1a2f6342384263636363636363636363636363636363636363636363636363636363636363636363636363636363"
        "63636363636363636363ffc00011080003000403012200021101031101ffc401a2000001050101010101010000000000"
        "0000000102030405060708090a0b100002010303020403050504040000017d0102030004110512213141061351610722"
        "7114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a"
        "535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8"
        "a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9"
        "fa0100030101010101010101010000000000000102030405060708090a0b110002010204040304070504040001027700"
        "0102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a2627"
        "28292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788"
        "898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2"
        "e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f00a8f3c9bbef9a6f9f27f7cd35fef52573c6"
        "11b6c7d053c3d1e45ee2fb91ffd9"))
    put(t, "bad_truncated.png", png(w, h, 2, [bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h)])[:40])
    put(t, "bad_not_an_image", "this is not an image at all")


if __name__ == "__main__":
    st_corpus()
    model_corpus()
    npy_corpus()
    idx_corpus()
    csv_corpus()
    image_corpus()
