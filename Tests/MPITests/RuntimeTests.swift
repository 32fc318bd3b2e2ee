import MPI
import Testing

@Suite(.serialized) struct RuntimeTests {
    @Test func singletonInitialisesAsRankZeroOfOne() throws {
        let world = try MPIRuntime.world()
        #expect(world.rank == 0)
        #expect(world.size == 1)
        #expect(MPIRuntime.libraryVersion.contains("MPI"))
    }

    @Test func allReduceAndBroadcastOnOneRank() throws {
        let world = try MPIRuntime.world()
        var values: [Double] = [1.5, -2, 3]
        try world.allReduce(&values, .sum)
        #expect(values == [1.5, -2, 3])
        var counts: [Int64] = [7]
        try world.broadcast(&counts, root: 0)
        #expect(counts == [7])
    }

    @Test func errorsComeBackAsTypedErrors() throws {
        let world = try MPIRuntime.world()
        var values: [Double] = [1]
        #expect(throws: MPIError.self) { try world.broadcast(&values, root: 5) }
        do { try world.broadcast(&values, root: 5) } catch {
            #expect(error.function == "MPI_Bcast")
            #expect(error.message.lowercased().contains("root"))
        }
    }
}
