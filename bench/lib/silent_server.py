"""A TCP server that accepts every connection and never says a word (an SMTP or IMAP server
that hangs): the port the kernel gave it goes to PORT_FILE, the number of connections accepted
so far to PORT_FILE.count.

  silent_server.py PORT_FILE

Python standard library only; runs until killed.
"""
import socket
import sys


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    port_file = sys.argv[1]
    with open(port_file + ".count", "w") as f:
        f.write("0\n")
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.replace(port_file + ".tmp", port_file)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # kept open, silent
        with open(port_file + ".count", "w") as f:
            f.write("%d\n" % len(held))


if __name__ == "__main__":
    main()
