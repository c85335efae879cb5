#!/usr/bin/env python3
"""Records a MySQL session through a relay: python3 record_mysql.py PREFIX prints a port;
connect a client there (e.g. mariadb -h127.0.0.1 -P PORT -uroot --skip-ssl -D mysql -e ...).
Writes PREFIX.fe.bin (client to server) and PREFIX.be.bin (server to client).
mariadb_cli.*.bin: mariadb 10.11 CLI, see tests/mysql/capture.rs for the statements."""
import socket, threading, sys
prefix = sys.argv[1]
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
u = socket.create_connection(("127.0.0.1", 3306))
def pump(a, b, path):
    with open(path, "wb") as f:
        while True:
            d = a.recv(65536)
            if not d:
                try: b.shutdown(socket.SHUT_WR)
                except OSError: pass
                return
            f.write(d); f.flush(); b.sendall(d)
t1 = threading.Thread(target=pump, args=(c, u, prefix + ".fe.bin")); t2 = threading.Thread(target=pump, args=(u, c, prefix + ".be.bin"))
t1.start(); t2.start(); t1.join(); t2.join()
