import json, statistics, sys, glob
def load(kind, side, r):
    d = json.load(open(f'{kind}.{side}.{r}.json'))
    return {x['name']: 1e9 / x['items_per_second'] for x in d['benchmarks'] if 'items_per_second' in x}
rows = {}
for kind in ('verify', 'revocation'):
    for r in range(1, 6):
        b = load(kind, 'before', r); a = load(kind, 'after', r)
        for n in b:
            if n in a:
                rows.setdefault(n, []).append((b[n], a[n], a[n] / b[n]))
print('| benchmark | before ns/op (median) | after ns/op (median) | after/before per round: median [min-max] |')
print('|---|---:|---:|---|')
for n, v in rows.items():
    bs = [x[0] for x in v]; as_ = [x[1] for x in v]; rs = [x[2] for x in v]
    print(f'| {n} | {statistics.median(bs):.1f} | {statistics.median(as_):.1f} | {statistics.median(rs):.3f} [{min(rs):.3f}-{max(rs):.3f}] |')
