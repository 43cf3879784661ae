"""PHI helper for the de-identification tests (pydicom, independent of our TypeScript reader).

plant <tags.json> <pairs.json>   (pairs: [[in.dcm, out.dcm], ...]; prints one result per pair)
    For each pair, overwrites, at any depth, every attribute whose tag is listed in tags.json (our Table E.1-1 list)
    and every person name, private text value and non-class UID with a unique, searchable token of
    the right VR, keeping the transfer syntax. Prints a JSON list of {src, tokens: [{tag, vr, token}]}.
collect <tags.json> <in.dcm>...
    Prints a JSON list of {src, values: [{tag, vr, value}]}: the original values that must not survive: every value
    of a listed tag, every PN (and its name components), private string values, non-class UIDs and
    every DA value / DT date part.
dump <in.dcm>...
    Prints a JSON list, one object per file, with the attributes the tests compare (dates, UIDs, clinical trial attributes, pixel data sha256).
"""
import hashlib, json, sys, warnings
warnings.filterwarnings('ignore')
import pydicom
from pydicom.dataelem import DataElement

STRING_VRS = {'AE', 'LO', 'SH', 'LT', 'ST', 'UT', 'UC', 'PN', 'DA', 'DT', 'UI', 'AS', 'CS', 'DS', 'IS', 'TM', 'UR'}
KEEP_UID = {0x00020002, 0x00020010, 0x00020012, 0x00080016, 0x00081150, 0x0008001A, 0x0008001B, 0x00080062, 0x00041510, 0x00041512, 0x0008010C, 0x00080117, 0x00080118}
counter = [0]

def token(vr):
    counter[0] += 1
    n = counter[0]
    if vr == 'DA':
        import datetime
        return (datetime.date(1991, 1, 1) + datetime.timedelta(days=37 * n)).strftime('%Y%m%d')
    if vr == 'DT':
        import datetime
        return (datetime.date(1991, 2, 3) + datetime.timedelta(days=41 * n)).strftime('%Y%m%d') + '101500'
    if vr == 'UI':
        return '1.2.826.0.1.3680043.10.999.%d' % (7000 + n)
    if vr == 'PN':
        return 'Plantfam%03d^Plantgiv%03d' % (n, n)
    if vr == 'AS':
        return None
    if vr in ('SH', 'AE', 'CS'):
        return 'PHQ%03dZW' % n
    return 'PHItok%03d Zulu Whiskey' % n

def walk(ds, fn, depth=0):
    for el in list(ds):
        if el.VR == 'SQ':
            fn(ds, el, depth)
            for item in el.value:
                walk(item, fn, depth + 1)
        else:
            fn(ds, el, depth)

def is_target(tag, vr, tags):
    t = int(tag)
    if t in tags:
        return True
    if tag.group % 2 == 1 and tag.element >= 0x1000:
        return True
    if vr == 'PN':
        return True
    if vr == 'UI' and t not in KEEP_UID:
        return True
    if vr in ('DA', 'DT'):
        return True
    return False

DUMP_KEYS = ['StudyDate', 'SeriesDate', 'AcquisitionDate', 'ContentDate', 'AcquisitionDateTime', 'StudyTime', 'PatientName', 'PatientID',
             'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', 'FrameOfReferenceUID', 'PatientIdentityRemoved',
             'ClinicalTrialSubjectReadingID', 'ClinicalTrialSubjectID', 'ClinicalTrialTimePointID', 'ClinicalTrialProtocolID',
             'ClinicalTrialSponsorName', 'LongitudinalTemporalInformationModified', 'SeriesDescription', 'StudyDescription', 'PatientBirthDate']

def dump(path):
    d = pydicom.dcmread(path)
    out = {k: (None if d.get(k) is None else str(d.get(k))) for k in DUMP_KEYS}
    out['ts'] = str(d.file_meta.TransferSyntaxUID)
    out['mediaSop'] = str(d.file_meta.MediaStorageSOPInstanceUID)
    out['pixelSha'] = hashlib.sha256(d.PixelData).hexdigest() if 'PixelData' in d else None
    out['codes'] = [str(i.CodeValue) for i in d.get('DeidentificationMethodCodeSequence', [])]
    out['refImage'] = [str(i.ReferencedSOPInstanceUID) for i in d.get('ReferencedImageSequence', [])]
    out['private'] = sum(1 for el in d.iterall() if el.tag.group % 2 == 1)
    out['overlay'] = sum(1 for el in d.iterall() if 0x6000 <= el.tag.group <= 0x60FF)
    return out

def plant_file(tags, src, dst):
    d = pydicom.dcmread(src)
    tokens = []
    def plant(ds, el, depth):
        if el.VR == 'SQ' or el.VR not in STRING_VRS and not (el.tag.group % 2 == 1):
            return
        if not is_target(el.tag, el.VR, tags) or el.tag.group == 0x0002:
            return
        if el.VR in ('TM', 'DS', 'IS', 'US', 'SS', 'UL', 'SL', 'FL', 'FD', 'CS', 'AS'):
            return  # numbers, times and codes are not planted (times are kept by design; sex/age are emptied/removed)
        if el.VR == 'UI' and str(el.value).startswith('1.2.840.10008.'):
            return
        vr = el.VR if el.VR in STRING_VRS else 'LO'
        tok = token(vr)
        if tok is None:
            return
        ds[el.tag] = DataElement(el.tag, vr, tok)
        tokens.append({'tag': '%08X' % int(el.tag), 'vr': vr, 'token': tok})
    walk(d, plant)
    d.save_as(dst, write_like_original=True)
    return {'src': src, 'tokens': tokens}

def collect_file(tags, path):
    d = pydicom.dcmread(path)
    vals = []
    def add(el, v):
        v = str(v).strip()
        if v:
            vals.append({'tag': '%08X' % int(el.tag), 'vr': el.VR, 'value': v})
    def collect(ds, el, depth):
        if el.VR == 'SQ' or el.tag.group == 0x0002:
            return
        if not is_target(el.tag, el.VR, tags) and not (0x6000 <= el.tag.group <= 0x60FF and el.tag.element == 0x4000):
            return
        v = el.value
        if isinstance(v, bytes):
            try:
                v = v.decode('utf-8')
            except UnicodeDecodeError:
                return
        vs = list(v) if isinstance(v, (list, pydicom.multival.MultiValue)) else [v]
        for x in vs:
            if el.VR == 'UI' and (str(x).startswith('1.2.840.10008.') or int(el.tag) in KEEP_UID):
                continue
            if el.VR == 'DT':
                add(el, str(x)[:8])
                continue
            if el.VR in ('TM', 'US', 'SS', 'DS', 'IS', 'FL', 'FD', 'UL', 'SL', 'AT'):
                continue
            add(el, x)
            if el.VR == 'PN':
                for comp in str(x).replace('=', '^').split('^'):
                    if len(comp.strip()) >= 4:
                        add(el, comp.strip())
    walk(d, collect)
    return {'src': path, 'values': vals}

def main():
    mode = sys.argv[1]
    if mode == 'dump':
        print(json.dumps([dump(p) for p in sys.argv[2:]]))
        return
    tags = set(int(t, 16) for t in json.load(open(sys.argv[2])))
    if mode == 'plant':
        print(json.dumps([plant_file(tags, a, b) for a, b in json.load(open(sys.argv[3]))]))
    elif mode == 'collect':
        print(json.dumps([collect_file(tags, p) for p in sys.argv[3:]]))
    else:
        raise SystemExit('unknown mode ' + mode)

main()
