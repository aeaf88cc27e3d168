"""Sans-I/O wire protocol: frames to typed requests and back. No sockets, no asyncio."""
