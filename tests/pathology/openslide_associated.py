# Lists the associated images OpenSlide (libopenslide.so.0, Debian openslide-tools) sees in a slide: "name width height" per line.
# Used by tests as an independent reader; run with /usr/bin/python3.
import ctypes, sys
lib = ctypes.CDLL('libopenslide.so.0')
lib.openslide_open.restype = ctypes.c_void_p; lib.openslide_open.argtypes = [ctypes.c_char_p]
lib.openslide_get_associated_image_names.restype = ctypes.POINTER(ctypes.c_char_p)
lib.openslide_get_associated_image_names.argtypes = [ctypes.c_void_p]
lib.openslide_get_associated_image_dimensions.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)]
lib.openslide_get_error.restype = ctypes.c_char_p; lib.openslide_get_error.argtypes = [ctypes.c_void_p]
o = lib.openslide_open(sys.argv[1].encode())
names = lib.openslide_get_associated_image_names(o)
i = 0
while names[i]:
    w = ctypes.c_int64(); h = ctypes.c_int64()
    lib.openslide_get_associated_image_dimensions(o, names[i], ctypes.byref(w), ctypes.byref(h))
    print(names[i].decode(), w.value, h.value)
    i += 1
print('error', lib.openslide_get_error(o))
