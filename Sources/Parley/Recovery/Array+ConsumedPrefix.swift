extension Array {
    /// For an array used as a first-in first-out queue whose live elements start at `head`:
    /// drops the consumed prefix once it is the whole array, or once it is at least 1,024
    /// elements and half the array, and moves `head` to 0. Popping from the front then costs
    /// O(1) amortised, without a ring buffer. The packet log and the session store use it.
    mutating func compactConsumedPrefix(head: inout Int) {
        if head == count {
            removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= count {
            removeFirst(head)
            head = 0
        }
    }
}
