"""Writes a small multi-level DICOM WSI series (VL Whole Slide Microscopy, TILED_FULL) with pydicom + Pillow.

usage: make_dicom_wsi.py OUTDIR LEVEL0.png LEVEL1.png DECODED1.png
  level 0: native (uncompressed) RGB frames, Explicit VR Little Endian
  level 1: JPEG baseline frames encoded by Pillow (YBR_FULL_422)
Tiles are 64x64; edge tiles are padded with white. DECODED1.png receives level 1 as Pillow decodes the JPEG
frames it wrote (an independent decode to compare the reader with). Used only by tests/wsi/reader.test.ts.
"""
import io
import sys
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"
T = 64
out, l0, l1, dec1 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
series, study, frame_of_ref = generate_uid(), generate_uid(), generate_uid()


def tiles(img):
    w, h = img.size
    for ty in range(0, h, T):
        for tx in range(0, w, T):
            t = Image.new("RGB", (T, T), (255, 255, 255))
            t.paste(img.crop((tx, ty, min(tx + T, w), min(ty + T, h))), (0, 0))
            yield t


def write(path, img, number, jpeg, spacing_mm, decoded_path=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = WSI, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
    ds.Modality, ds.InstanceNumber = "SM", number
    ds.ImageType = ["DERIVED", "PRIMARY", "VOLUME", "NONE"]
    w, h = img.size
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = w, h
    ds.Rows, ds.Columns = T, T
    frames = list(tiles(img))
    ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 3, 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    ds.DimensionOrganizationType = "TILED_FULL"
    pm = Dataset()
    pm.PixelSpacing = [spacing_mm, spacing_mm]
    sfg = Dataset()
    sfg.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [sfg]
    op = Dataset()
    op.ObjectiveLensPower = "40"
    ds.OpticalPathSequence = [op]
    if jpeg:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        enc = []
        for t in frames:
            b = io.BytesIO()
            t.save(b, format="JPEG", quality=90)
            enc.append(b.getvalue())
        if decoded_path:
            across = (w + T - 1) // T
            canvas = Image.new("RGB", (across * T, ((h + T - 1) // T) * T))
            for i, e in enumerate(enc):
                canvas.paste(Image.open(io.BytesIO(e)).convert("RGB"), ((i % across) * T, (i // across) * T))
            canvas.crop((0, 0, w, h)).save(decoded_path)
        ds.PixelData = encapsulate(enc)
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = b"".join(t.tobytes() for t in frames)
        ds["PixelData"].VR = "OB"
    ds.save_as(path, write_like_original=False)


write(f"{out}/level0.dcm", Image.open(l0).convert("RGB"), 1, False, 0.00025)
write(f"{out}/level1.dcm", Image.open(l1).convert("RGB"), 2, True, 0.0005, dec1)
