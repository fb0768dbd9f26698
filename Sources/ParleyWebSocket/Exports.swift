// The runtime types in this module's public API (EventLoop, EventLoopGroup, Scheduled) come
// from ParleyIO; importing ParleyWebSocket makes them visible too.
@_exported import ParleyIO
