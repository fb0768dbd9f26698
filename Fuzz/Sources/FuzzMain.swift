import Foundation

// `parley-fuzz TARGET [libFuzzer options] [CORPUS...]`: one executable for every fuzz target
// (one build, one link). Built with the fuzzer flags (Fuzz/run.sh), it hands the chosen target
// to libFuzzer; built without them (any `swift build`), it replays the files and directories
// given, once each, so a corpus or a crash input can be checked without libFuzzer.
//
// SwiftPM links an executable with `--defsym main=<module>_main`; with `-parse-as-library`
// (the fuzz build) or without a `main.swift` (the normal build) no top-level code exists, so
// the entry point is this `@_cdecl` function in both builds.

/// The fuzz targets, by the name given on the command line.
let targets: [String: FuzzTarget] = [
    "envelope": EnvelopeTarget(),
    "frame": FrameTarget(),
    "http": HTTPTarget(),
    "resp": RESPTarget(),
    "redis-url": RedisURLTarget(),
    "cluster": ClusterMessageTarget(),
    "engineio": EngineIOTarget(),
    "socketio": SocketIOTarget(),
    "socketio-binary": SocketIOBinaryTarget(),
]

/// The target libFuzzer calls; set once, before the driver starts.
nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("parley_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let arguments = (0..<Int(argc)).map { argv[$0].map { String(cString: $0) } ?? "" }
    guard arguments.count >= 2, let target = targets[arguments[1]] else {
        let names = targets.keys.sorted().joined(separator: ", ")
        FileHandle.standardError.write(Data("usage: parley-fuzz TARGET [options] [CORPUS...]; targets: \(names)\n".utf8))
        return 2
    }
    selected = target
    #if PARLEY_FUZZING
    // libFuzzer sees the command line without the target name.
    var count = argc - 1
    var rest: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv + 1
    rest?[0] = argv[0]
    return LLVMFuzzerRunDriver(&count, &rest) { data, size in
        selected?.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
    #else
    return replay(target, paths: arguments.dropFirst(2).filter { !$0.hasPrefix("-") })
    #endif
}

#if PARLEY_FUZZING
/// libFuzzer's entry for programs that have their own `main` (compiler-rt FuzzerDriver.cpp).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

/// Runs every file named, or found in the directories named, through `target` once.
func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
    var files: [String] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("parley-fuzz: no such file \(path)\n".utf8))
            return 2
        }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files += names.sorted().map { path + "/" + $0 }
        } else {
            files.append(path)
        }
    }
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        [UInt8](data).withUnsafeBytes { target.run($0) }
    }
    print("parley-fuzz: \(files.count) inputs replayed, every invariant held")
    return 0
}
