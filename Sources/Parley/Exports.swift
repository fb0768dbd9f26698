// The TLS types of this module's API (`tls` options and their errors) come from ParleyIO;
// importing this module makes them visible too.
@_exported import struct ParleyIO.TLSConfiguration
@_exported import struct ParleyIO.TLSError
@_exported import enum ParleyIO.TLSLibrary
