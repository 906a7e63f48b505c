"""The PyPI peer ``eventstudy`` 0.1a12 on the benchmark's pairs; run with the peer's own virtualenv (not ours).

``python peer.py RETURNS_CSV EVENTS_CSV OUT_NPZ``: RETURNS_CSV is wide (``date,T1,...,MKT`` simple returns), EVENTS_CSV
``ticker,date`` (date = day 0). For each pair: its market model over the 240 sessions [-250, -11] and the event
window [-10, 10] (``estimation_size=240, buffer_size=0``); saves AR (P, 21), CAR[-10..10] and its t, and prints
the seconds spent importing and reading the returns and computing.
"""

import json
import sys
import time

start = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eventstudy import Single  # noqa: E402

Single.import_returns(sys.argv[1])
events = pd.read_csv(sys.argv[2])
read = time.perf_counter()
ar, car, t = [], [], []
for ticker, date in zip(events["ticker"], events["date"], strict=True):
    single = Single.market_model(
        security_ticker=ticker,
        market_ticker="MKT",
        event_date=np.datetime64(date),
        event_window=(-10, 10),
        estimation_size=240,
        buffer_size=0,
    )
    ar.append(single.AR)
    car.append(single.CAR[-1])
    t.append(single.tstat[-1])
done = time.perf_counter()
np.savez(sys.argv[3], ar=np.array(ar, dtype=float), car=np.array(car), t=np.array(t))
print(json.dumps({"read": read - start, "compute": done - read, "pairs": len(events)}))
