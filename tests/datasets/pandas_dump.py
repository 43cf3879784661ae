"""Independent XPT reader for the tests: pandas.read_sas(format='xport') -> JSON on stdout.

Usage: /usr/bin/python3 pandas_dump.py FILE.xpt
Prints {"columns": [...], "rows": [[...], ...]} with bytes decoded as UTF-8 (trailing blanks
stripped by pandas), NaN as null and numbers as Python floats (repr = shortest round trip).

Known pandas quirk: it decodes the all-zero IBM double (how SAS stores 0) as 16**-65
(5.397605346934028e-79) instead of 0. That exact value is mapped back to 0.0 here; the tests check
separately, at byte level, that 0 is written as eight zero bytes.
"""
import json
import math
import sys

import pandas as pd


PANDAS_ZERO = 16.0 ** -65


def conv(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return 0.0 if v == PANDAS_ZERO else v
    if v is None:
        return None
    return v


def main():
    df = pd.read_sas(sys.argv[1], format="xport")
    rows = [[conv(v) for v in rec] for rec in df.itertuples(index=False, name=None)]
    json.dump({"columns": [str(c) for c in df.columns], "rows": rows}, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
