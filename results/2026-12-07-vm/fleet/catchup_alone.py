#!/usr/bin/python3
"""One node catching up alone: N entries XADDed (pipelined) to a fresh redis-server, then one
jwtgated with revocation.replication started; the time from its launch to /readyz 200 (its
initial sync done) gives entries/s. Unlike fleet_bench.py part 2, no other node replays the
same entries at the same time on this 2-core machine.

Usage: catchup_alone.py N   (run from anywhere; uses build/ of the repository, ports 16390,
19290, 19291, and /tmp/cu/w as its work folder)
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
N=int(sys.argv[1]); port=16390
d='/tmp/cu/w'; shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
r=subprocess.Popen(['redis-server','--port',str(port),'--bind','127.0.0.1','--save','','--appendonly','no','--dir',d],stdout=subprocess.DEVNULL)
time.sleep(0.5)
s=socket.create_connection(('127.0.0.1',port))
def cmd(*a):
    b=b'*%d\r\n'%len(a)
    for x in a:
        x=x if isinstance(x,bytes) else str(x).encode()
        b+=b'$%d\r\n%s\r\n'%(len(x),x)
    return b
t=time.time(); buf=[]
for i in range(N):
    buf.append(cmd('XADD','jwtgate:stream','*','v','1','k','jti','id','j%d'%i,'iss','https://i.example','t','forever','n','bench','q',i))
    if len(buf)==5000:
        s.sendall(b''.join(buf)); need=len(buf); buf=[]; got=0; data=b''
        while got<need:
            data+=s.recv(1<<20); got=data.count(b'\r\n')
print('inject %.1fs'%(time.time()-t))
subprocess.run([os.path.join(REPO, 'build/') + 'core/cli/jwtgate','keygen','--alg','HS256','--kid','k1','--private',d+'/k.jwk','--jwks',d+'/keys.jwks'],capture_output=True)
open(d+'/c.yaml','w').write(f"""auth: {{listen: 127.0.0.1:19290}}
admin: {{listen: 127.0.0.1:19291}}
issuers: [{{issuer: https://i.example, jwks_file: {d}/keys.jwks}}]
revocation:
  dir: {d}/state
  replication: {{redis: 127.0.0.1:{port}, node_id: c, snapshot_every_entries: 10000000}}
""")
os.makedirs(d+'/state')
t=time.time()
p=subprocess.Popen((['perf','record','-g','-o',d+'/perf.data','--'] if os.environ.get('PERF') else [])+[os.path.join(REPO, 'build/') + 'core/daemon/jwtgated','--config',d+'/c.yaml'],stderr=open(d+'/c.log','w'))
while True:
    try:
        if urllib.request.urlopen('http://127.0.0.1:19291/readyz',timeout=1).status==200: break
    except Exception: pass
    time.sleep(0.05)
el=time.time()-t
print('ready after %.2fs: %.0f entries/s'%(el,N/el))
p.terminate(); p.wait(); r.terminate(); r.wait()
