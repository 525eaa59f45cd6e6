// One live-chat WebSocket (the member's or the agent's) on this site, as JSON objects,
// reconnecting after a drop with growing pauses (half a second up to ten) for as long as
// `shouldReconnect` says; the server sends the current state again on every connection.

export function liveSocket(path, { onData, onOpen = () => {}, onClose = () => {}, shouldReconnect = () => true }) {
  let socket = null;
  let retry = 0;

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}${path}`);
    socket = ws;
    ws.addEventListener("open", () => {
      retry = 0;
      onOpen();
    });
    ws.addEventListener("message", (event) => {
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (data && typeof data === "object") onData(data);
    });
    ws.addEventListener("close", () => {
      if (socket === ws) socket = null;
      onClose();
      if (!shouldReconnect()) return;
      retry += 1;
      window.setTimeout(() => {
        if (!socket && shouldReconnect()) connect();
      }, Math.min(10000, 500 * 2 ** Math.min(retry, 5)));
    });
  }

  return {
    connect,
    // Whether a socket is open or opening (connect() again would open a second one).
    started: () => socket !== null,
    // Send one object; false when the socket is not open (the caller decides what then).
    send(data) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(data));
      return true;
    },
    close() {
      if (socket) socket.close();
    },
  };
}
