import Foundation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct TensorFilesTests {
    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    /// Written by the reference implementation: `safetensors.numpy.save({"a": float32 [[1.5, -2]], "b": int64 [3, -4]},
    /// metadata={"k": "v"})` (safetensors 0.8.0).
    static let referenceSafetensors = bytes(hex: "90000000000000007b225f5f6d657461646174615f5f223a7b226b223a2276227d2c2262223a7b2264747970"
        + "65223a22493634222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c31365d7d2c2261223a7b226474797065223a2246"
        + "3332222c227368617065223a5b312c325d2c22646174615f6f666673657473223a5b31362c32345d7d7d202020202020200300000000000000fcff"
        + "ffffffffffff0000c03f000000c0")

    @Test func readsWhatTheReferenceWriterWrote() throws {
        let (tensors, metadata) = try Safetensors.read(bytes: Self.referenceSafetensors, path: "reference")
        #expect(metadata == ["k": "v"])
        #expect(tensors["a"] == Tensor(shape: [1, 2], floats: [1.5, -2]))
        #expect(tensors["b"] == Tensor(shape: [2], integers: [3, -4]))
    }

    @Test func roundTripsAndPadsTheHeaderAsTheReferenceDoes() throws {
        let tensors = ["a": Tensor(shape: [1, 2], floats: [1.5, -2]), "b": Tensor(shape: [2], integers: [3, -4]),
                       "empty": Tensor(shape: [0, 4], floats: [])]
        let encoded = Safetensors.encode(tensors, metadata: ["k": "v"])
        #expect((encoded.count - 8) % 8 == 0)
        let decoded = try Safetensors.read(bytes: encoded, path: "mine")
        #expect(decoded.tensors == tensors && decoded.metadata == ["k": "v"])
    }

    @Test func refusesBrokenFilesNamingTheProblem() {
        var truncated = Self.referenceSafetensors
        truncated.removeLast(4)
        #expect(throws: DataError.self) { try Safetensors.read(bytes: truncated, path: "t") }
        #expect(throws: DataError.self) { try Safetensors.read(bytes: [1, 2, 3], path: "t") }
        do {
            _ = try Safetensors.read(bytes: truncated, path: "t")
        } catch {
            #expect(error.message.contains("outside") || error.message.contains("bytes"))
        }
    }

    /// `np.save` of float64 `[[1, 2, 3], [4, 5, 6]]` (NumPy 2.4): read narrowed to float32.
    @Test func readsNumPyFilesAndWritesOnesItReads() throws {
        let directory = Fixtures.temporaryDirectory("npy")
        let reference = directory + "/reference.npy"
        try TextFile.write(Self.bytes(hex: "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73652c202773686170"
            + "65273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
            + "2020202020202020202020202020200a000000000000f03f0000000000000040000000000000084000000000000010400000000000001440"
            + "0000000000001840"), to: reference)
        #expect(try NumPyArray.read(path: reference) == Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]))
        for tensor in [Tensor(shape: [3], integers: [7, -8, 9]), Tensor(shape: [2, 2], floats: [0.25, -1, 3, 4])] {
            try NumPyArray.write(tensor, to: directory + "/mine.npy")
            #expect(try NumPyArray.read(path: directory + "/mine.npy") == tensor)
        }
    }
}
