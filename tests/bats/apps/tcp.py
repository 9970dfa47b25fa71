# A TCP server and client on the container's loopback, in two processes:
# the client sends consecutive numbers over one connection, the server
# echoes each back, the client prints "echo N" for each reply. Printing
# "connected" once, it never reconnects: after a restore with
# --tcp-established the same connection must go on echoing.
import os
import socket
import sys
import time

PORT = 7007
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", PORT))
srv.listen(1)

if os.fork() == 0:
    conn, _ = srv.accept()
    f = conn.makefile("rb")
    for line in f:
        conn.sendall(line)
    os._exit(0)

srv.close()
c = socket.create_connection(("127.0.0.1", PORT))
print("connected", flush=True)
f = c.makefile("rb")
n = 0
while True:
    c.sendall(b"%d\n" % n)
    line = f.readline()
    if not line:
        print("connection closed", flush=True)
        sys.exit(1)
    print("echo " + line.decode().strip(), flush=True)
    n += 1
    time.sleep(0.02)
