#!/usr/bin/python3
"""camd's RTSP server: GStreamer's gst-rtsp-server serving each lens's recorded H.264 (no re-encode).

Run by the daemon (src/rtsp/service.ts) as a supervised child; never by hand in production.

stdin, first line: the settings as JSON (never on the command line, where `ps` would show the
password): {"address", "port", "username", "password", "maxClients", "streams": {"wide": sock}}.
Each stream is read from capture's relay (a unix socket carrying MPEG-TS, src/capture/relay.ts):
socketsrc ! tsdemux ! h264parse ! rtph264pay — the H.264 passes through as it was recorded.

stdout: one JSON object per line for the daemon:
  {"event": "ready", "address", "port"}                  listening
  {"event": "viewer", "seq", "client", "path", "remote"} a client is about to PLAY: the daemon
                                                           counts it as a live viewer (LED solid
                                                           blue) and answers {"ack": seq} on stdin
                                                           BEFORE the first frame goes out; no
                                                           answer in time = the PLAY is refused
  {"event": "gone", "client"}                            a counted client stopped or left
  {"event": "refused", "reason", "remote"}               a client over maxClients was cut off
  {"event": "error", "message"}                          fatal (then exit 1)
Nothing here ever prints the password.
"""
import json
import os
import select
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstBase, GstRtsp, GstRtspServer  # noqa: E402

ACK_TIMEOUT_S = 2.0


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Stdin:
    """Line reader over the daemon's pipe, shared by the main loop's watch and the ack wait."""

    def __init__(self):
        self.fd = sys.stdin.fileno()
        self.buf = b""
        self.eof = False
        self.acks = set()

    def pump(self):
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        if not chunk:
            self.eof = True
            return
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and isinstance(msg.get("ack"), int):
                self.acks.add(msg["ack"])

    def first_line(self):
        while b"\n" not in self.buf and not self.eof:
            select.select([self.fd], [], [])
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def wait_ack(self, seq, timeout):
        deadline = time.monotonic() + timeout
        while seq not in self.acks:
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                self.pump()
        self.acks.discard(seq)
        return True


class LensFactory(GstRtspServer.RTSPMediaFactory):
    """One shared pipeline per lens: every client of /wide reads the same relay connection."""

    def __init__(self, sock_path):
        super().__init__()
        self.sock_path = sock_path

    def do_create_element(self, url):
        sock = Gio.Socket.new(Gio.SocketFamily.UNIX, Gio.SocketType.STREAM, Gio.SocketProtocol.DEFAULT)
        try:
            sock.connect(Gio.UnixSocketAddress.new(self.sock_path), None)
        except GLib.Error as err:
            # The lens is not capturing (sleep, a failed pipeline): the client gets an error.
            sys.stderr.write("relay %s unavailable: %s\n" % (self.sock_path, err.message))
            return None
        # tsdemux adds 700 ms of latency for a live source by default; the relay delivers whole
        # packets in real time, so 100 ms is plenty and saves ~0.6 s of start-up per client.
        bin_ = Gst.parse_launch(
            "socketsrc name=src ! tsdemux latency=100 ! h264parse config-interval=-1 ! queue ! "
            "rtph264pay name=pay0 pt=96 config-interval=-1"
        )
        src = bin_.get_by_name("src")
        src.set_property("socket", sock)
        # A camera is live: no preroll, no seeking (a client's "Range: npt=0-" must not seek a socket).
        GstBase.BaseSrc.set_live(src, True)
        # ... and the server asks the pipeline whether it can seek before every PLAY: answer "no"
        # (tsdemux would say it can, then fail the seek and with it the PLAY).
        bin_.get_by_name("pay0").get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, _no_seeking)
        return bin_


def _no_seeking(_pad, info):
    q = info.get_query()
    if q is not None and q.type == Gst.QueryType.SEEKING:
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


def main():
    Gst.init(None)
    stdin = Stdin()
    cfg = stdin.first_line()
    os.set_blocking(stdin.fd, False)

    server = GstRtspServer.RTSPServer()
    server.set_address(cfg["address"])
    server.set_service(str(cfg["port"]))
    user = cfg["username"]

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", user)
    # Digest only: Basic would let a client send the password in the clear on the LAN.
    auth.add_digest(user, cfg["password"], token)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    cfg["password"] = None

    mounts = server.get_mount_points()
    role = Gst.Structure.from_string(
        "%s, media.factory.access=(boolean)true, media.factory.construct=(boolean)true" % user
    )[0]
    for lens, sock_path in cfg["streams"].items():
        f = LensFactory(sock_path)
        f.set_shared(True)
        # TCP interleaved only: the one port the systemd drop-in allows; no UDP ports to open.
        f.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        f.add_role_from_structure(role)
        mounts.add_factory("/" + lens, f)

    max_clients = int(cfg.get("maxClients", 4))
    clients = {}  # RTSPClient -> {"id", "counted"}
    seq = [0]

    def remote_of(client):
        conn = client.get_connection()
        return conn.get_ip() if conn else None

    def uncount(client):
        st = clients.get(client)
        if st and st["counted"]:
            st["counted"] = False
            emit({"event": "gone", "client": st["id"]})

    def on_pre_play(client, ctx):
        st = clients.get(client)
        if st is None:
            return GstRtsp.RTSPStatusCode.SERVICE_UNAVAILABLE
        if st["counted"]:
            return GstRtsp.RTSPStatusCode.OK
        seq[0] += 1
        path = ctx.uri.abspath if ctx.uri else None
        emit({"event": "viewer", "seq": seq[0], "client": st["id"], "path": path, "remote": remote_of(client)})
        # Privacy: no frame leaves before the daemon counted the viewer (the LED is blue).
        st["counted"] = True
        if not stdin.wait_ack(seq[0], ACK_TIMEOUT_S):
            uncount(client)
            return GstRtsp.RTSPStatusCode.SERVICE_UNAVAILABLE
        return GstRtsp.RTSPStatusCode.OK

    def on_teardown(client, ctx):
        uncount(client)

    def on_closed(client):
        uncount(client)
        clients.pop(client, None)

    next_id = [0]

    def on_connected(_server, client):
        if len(clients) >= max_clients:
            emit({"event": "refused", "reason": "maxClients", "remote": remote_of(client)})
            client.close()
            return
        next_id[0] += 1
        clients[client] = {"id": next_id[0], "counted": False}
        client.connect("pre-play-request", on_pre_play)
        client.connect("teardown-request", on_teardown)
        client.connect("closed", on_closed)

    server.connect("client-connected", on_connected)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        emit({"event": "error", "message": "cannot listen on %s:%s" % (cfg["address"], cfg["port"])})
        sys.exit(1)

    # Session timeouts and closed connections: the pool is cleaned up once a few seconds.
    def cleanup():
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add_seconds(2, cleanup)

    def on_stdin(_fd, cond):
        stdin.pump()
        if stdin.eof or cond & (GLib.IOCondition.HUP | GLib.IOCondition.ERR):
            # The daemon is gone: nobody counts viewers any more, so nobody may watch.
            loop.quit()
            return False
        return True

    GLib.io_add_watch(stdin.fd, GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, on_stdin)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    emit({"event": "ready", "address": cfg["address"], "port": cfg["port"]})
    loop.run()


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # noqa: BLE001 - the daemon logs the line and restarts us
        emit({"event": "error", "message": "%s: %s" % (type(err).__name__, err)})
        sys.exit(1)
