import Foundation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct ArtifactTests {
    @Test func fieldsRoundTripInOrder() throws {
        var writer = ArtifactWriter(kind: "test")
        writer.append(UInt32(7))
        writer.append(Int64(-3))
        writer.append(2.5)
        writer.append("héllo")
        writer.append(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        writer.append(floats: [], shape: [0])
        var reader = try ArtifactReader(bytes: writer.finished, path: "mem", expectedKind: "test")
        #expect(reader.kind == "test" && reader.formatVersion == ArtifactWriter.formatVersion)
        #expect(try reader.integer(UInt32.self) == 7)
        #expect(try reader.integer(Int64.self) == -3)
        #expect(try reader.double() == 2.5)
        #expect(try reader.string() == "héllo")
        let matrix = try reader.floats(rank: 2)
        #expect(matrix.shape == [2, 3] && matrix.values == [1, 2, 3, 4, 5, 6])
        #expect(try reader.floats(rank: 1).values.isEmpty)
        try reader.finish()
    }

    @Test func readerAndWriterOutOfStepAreCaught() throws {
        var writer = ArtifactWriter(kind: "test")
        writer.append(floats: [1, 2], shape: [2])
        writer.append(UInt8(1))
        var reader = try ArtifactReader(bytes: writer.finished, path: "m")
        let rank = #expect(throws: DataError.self) { try reader.floats(rank: 2) }
        #expect(rank?.description == "m: array of rank 1 where rank 2 was expected")
        var again = try ArtifactReader(bytes: writer.finished, path: "m")
        _ = try again.floats(rank: 1)
        #expect(throws: DataError.self) { try again.finish() }
        _ = try again.integer(UInt8.self)
        let past = #expect(throws: DataError.self) { try again.integer(UInt64.self) }
        #expect(past?.description.hasPrefix("m: truncated: UInt64 needs 8 bytes") == true)
    }

    @Test func newerFormatVersionIsRefused() throws {
        var bytes = ArtifactWriter(kind: "x").bytes
        bytes[8] = 99  // format version field, after the 8 magic bytes
        let withChecksum = bytes + checksumBytes(bytes)
        let error = #expect(throws: DataError.self) { try ArtifactReader(bytes: withChecksum, path: "v") }
        #expect(error?.description.contains("format version 99 is newer") == true)
    }

    /// FNV-1a, as the format specifies, little-endian.
    func checksumBytes(_ bytes: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { hash ^= UInt64(b); hash = hash &* 0x0000_0100_0000_01B3 }
        return withUnsafeBytes(of: hash.littleEndian) { Array($0) }
    }

    @Test func aliasSamplerMatchesWeights() {
        let sampler = AliasSampler(weights: [1, 0, 3, 6])
        var rng = SeededGenerator(seed: 1)
        var counts = [0, 0, 0, 0]
        for _ in 0..<100_000 { counts[sampler.sample(&rng)] += 1 }
        #expect(counts[1] == 0)
        for (i, w) in [0.1, 0, 0.3, 0.6].enumerated() { #expect(abs(Double(counts[i]) / 100_000 - w) < 0.01) }
    }
}
