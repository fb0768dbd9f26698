/// Writes one line to standard error (unbuffered, safe from any thread).
package func logLine(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
