import CVectorKernels

/// A map from keys to `Int32` indices that only grows: each key sits beside its index in one array,
/// found by linear probing, so a look-up usually touches one place in memory (a `Dictionary` keeps
/// occupancy, keys and values apart: three). For tables of a hundred thousand ids looked up by the
/// hundred per request (a ranker's candidates), where those cache misses are the cost. Inlinable, so
/// callers in other modules get code specialised to their key type (as `Dictionary`'s is).
public struct DenseIndex<Key: Hashable & Sendable>: Sendable {
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline
        var key: Key
        @usableFromInline
        var index: Int32

        @inlinable
        init(key: Key, index: Int32) { (self.key, self.index) = (key, index) }
    }

    /// A power of two, at least twice `count` (probes stay short).
    @usableFromInline
    var slots: [Slot?]
    /// Keys held.
    public var count: Int { held }
    @usableFromInline
    var held = 0

    public init(minimumCapacity: Int = 0) {
        var capacity = 16
        while capacity < 2 * minimumCapacity { capacity *= 2 }
        slots = Array(repeating: nil, count: capacity)
    }

    /// The index of `key`, or nil when it was never set.
    @inlinable
    public subscript(key: Key) -> Int32? {
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = key.hashValue & mask
            while let slot = slots[i] {
                if slot.key == key { return slot.index }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// The index of each of `keys` (nil: never set), as `self[key]` gives it. Every key's first slot is
    /// asked of memory before any is read, so the cache misses of hundreds of look-ups overlap instead of
    /// coming one after another.
    @inlinable
    public func indices(of keys: [Key]) -> [Int32?] {
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            let starts = keys.map { $0.hashValue & mask }
            for start in starts { rummage_prefetch(slots.baseAddress! + start, MemoryLayout<Slot?>.stride) }
            return zip(keys, starts).map { key, start in
                var i = start
                while let slot = slots[i] {
                    if slot.key == key { return slot.index }
                    i = (i + 1) & mask
                }
                return nil
            }
        }
    }

    /// Sets the index of `key`, adding the key when it is new.
    @inlinable
    public mutating func set(_ key: Key, to index: Int32) {
        if 2 * (count + 1) > slots.count { grow() }
        let mask = slots.count - 1
        var i = key.hashValue & mask
        while let slot = slots[i] {
            if slot.key == key {
                slots[i]!.index = index
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Slot(key: key, index: index)
        held += 1
    }

    /// Every key, in no particular order.
    public var keys: [Key] { slots.compactMap { $0?.key } }

    @usableFromInline
    mutating func grow() {
        let old = slots
        slots = Array(repeating: nil, count: old.count * 2)
        held = 0
        for case let slot? in old { set(slot.key, to: slot.index) }
    }
}
