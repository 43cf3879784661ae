"""Independent read-back of the SEG and SR written by @app/sr, with pydicom. Prints JSON.

usage: read_back.py SEG.dcm SR.dcm
"""
import json
import sys

import numpy as np
import pydicom


def code(seq):
    it = seq[0]
    return [it.CodingSchemeDesignator, it.get('CodeValue', it.get('LongCodeValue')), it.CodeMeaning]


def seg_info(path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array  # must decode (bit-packed BINARY)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    frames = []
    for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence):
        mask = arr[i].astype(np.int64)
        idx = np.flatnonzero(mask.ravel())
        frames.append({
            'segment': int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
            'ipp': [float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient],
            'source': str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID),
            'dimIndex': [int(x) for x in f.FrameContentSequence[0].DimensionIndexValues],
            'count': int(idx.size),
            'indexSum': int(idx.sum()),
        })
    return {
        'sopClassUid': str(ds.SOPClassUID),
        'modality': ds.Modality,
        'segmentationType': ds.SegmentationType,
        'numberOfFrames': int(ds.NumberOfFrames),
        'shape': list(arr.shape),
        'segments': [{
            'number': int(s.SegmentNumber),
            'label': s.SegmentLabel,
            'trackingId': str(s.TrackingID),
            'trackingUid': str(s.TrackingUID),
            'category': code(s.SegmentedPropertyCategoryCodeSequence),
            'type': code(s.SegmentedPropertyTypeCodeSequence),
            'algorithmName': s.SegmentAlgorithmName,
            'family': code(s.SegmentationAlgorithmIdentificationSequence[0].AlgorithmFamilyCodeSequence),
        } for s in ds.SegmentSequence],
        'frames': frames,
        'referencedInstances': [str(r.ReferencedSOPInstanceUID) for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence],
        'dimensionPointers': [str(d.DimensionIndexPointer) for d in ds.DimensionIndexSequence],
    }


def name_of(item):
    if 'ConceptNameCodeSequence' not in item:
        return None
    c = item.ConceptNameCodeSequence[0]
    return (c.CodingSchemeDesignator, c.get('CodeValue', c.get('LongCodeValue')))


def num_value(item):
    mv = item.MeasuredValueSequence[0]
    if 'FloatingPointValue' in mv:
        return float(mv.FloatingPointValue)
    # repr of a pydicom DSfloat keeps the original string; parse it with Python float (round-trips JS doubles)
    return float(str(mv.NumericValue))


def sr_info(path):
    ds = pydicom.dcmread(path)
    root = ds.ContentSequence
    meas = [i for i in root if name_of(i) == ('DCM', '126010')][0]
    lesions = []
    for g in meas.ContentSequence:
        if name_of(g) != ('DCM', '125007'):
            continue
        rec = {'template': str(g.ContentTemplateSequence[0].TemplateIdentifier)}
        for it in g.ContentSequence:
            n = name_of(it)
            if n == ('DCM', '112039'):
                rec['trackingId'] = it.TextValue
            elif n == ('DCM', '112040'):
                rec['trackingUid'] = str(it.UID)
            elif n == ('SCT', '370129005'):
                rec['method'] = code(it.ConceptCodeSequence)
            elif n == ('DCM', '121191'):
                rec['segmentNumber'] = int(it.ReferencedSOPSequence[0].ReferencedSegmentNumber)
                rec['segSop'] = str(it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
            elif n in (('SCT', '103339001'), ('SCT', '103340004'), ('SCT', '118565006')):
                key = {'103339001': 'longAxis', '103340004': 'shortAxis', '118565006': 'volume'}[n[1]]
                rec[key] = num_value(it)
                rec[key + 'Unit'] = it.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
                if 'ContentSequence' in it:
                    sc = it.ContentSequence[0]
                    rec[key + 'Scoord'] = {
                        'relationship': sc.RelationshipType,
                        'graphicType': sc.GraphicType,
                        'points': [float(x) for x in sc.GraphicData],
                        'image': str(sc.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID),
                    }
        lesions.append(rec)
    obs = {name_of(i)[1]: (i.get('TextValue') or (str(i.UID) if 'UID' in i else code(i.ConceptCodeSequence) if 'ConceptCodeSequence' in i else None))
           for i in root if i.RelationshipType == 'HAS OBS CONTEXT'}
    return {
        'sopClassUid': str(ds.SOPClassUID),
        'templateId': str(ds.ContentTemplateSequence[0].TemplateIdentifier),
        'title': code(ds.ConceptNameCodeSequence),
        'observer': obs,
        'lesions': lesions,
    }


if __name__ == '__main__':
    print(json.dumps({'seg': seg_info(sys.argv[1]), 'sr': sr_info(sys.argv[2])}))
