import Foundation
import Testing
@testable import MeanField

let everyActivation: [Activation] = [
    .linear, .relu, .leakyReLU(slope: 0.01), .leakyReLU(slope: 0.2), .tanh, .hardTanh, .sigmoid, .erf,
    .selu, .gelu, .silu, .softplus, .elu(alpha: 1), .elu(alpha: 0.5),
]

@Suite("Activation")
struct ActivationTests {
    @Test("names round-trip through init(parsing:)", arguments: everyActivation)
    func roundTrip(phi: Activation) throws {
        #expect(try Activation(parsing: phi.name) == phi)
    }

    @Test("every allowed name parses; parameters and defaults")
    func parsing() throws {
        for name in Activation.allowedNames { _ = try Activation(parsing: name) }
        #expect(try Activation(parsing: "leaky_relu") == .leakyReLU(slope: 0.01))
        #expect(try Activation(parsing: " Leaky_ReLU(0.2) ") == .leakyReLU(slope: 0.2))
        #expect(try Activation(parsing: "elu") == .elu(alpha: 1))
        #expect(try Activation(parsing: "elu(0.5)") == .elu(alpha: 0.5))
        #expect(Activation.leakyReLU(slope: 0.2).name == "leaky_relu(0.2)")
        #expect(Activation.hardTanh.name == "hard_tanh")
    }

    @Test("unknown names and bad parameters are refused, naming the allowed spellings")
    func refusals() {
        #expect(throws: ActivationError.unknown("swish")) { try Activation(parsing: "swish") }
        #expect(throws: ActivationError.unknown("tanh(2)")) { try Activation(parsing: "tanh(2)") }
        #expect(throws: (any Error).self) { try Activation(parsing: "leaky_relu(x)") }
        #expect(throws: (any Error).self) { try Activation(parsing: "elu(-1)") }
        let message = ActivationError.unknown("swish").description
        for name in Activation.allowedNames { #expect(message.contains(name)) }
    }

    @Test("values at reference points")
    func values() {
        #expect(Activation.relu.value(-2) == 0 && Activation.relu.value(3) == 3)
        #expect(Activation.leakyReLU(slope: 0.2).value(-2) == -0.4)
        #expect(Activation.hardTanh.value(3) == 1 && Activation.hardTanh.value(-0.5) == -0.5)
        #expect(abs(Activation.gelu.value(1) - 0.8413447460685429) < 1e-15)
        #expect(abs(Activation.silu.value(1) - 0.7310585786300049) < 1e-15)
        #expect(abs(Activation.softplus.value(0) - log(2)) < 1e-15)
        #expect(Activation.softplus.value(800) == 800 && Activation.softplus.value(-800) == 0)
        #expect(abs(Activation.sigmoid.value(-800)) == 0 && Activation.sigmoid.value(800) == 1)
        // SELU's defining property (Klambauer et al. 2017): E selu(z) = 0, E selu(z)² = 1.
        let mean = Reference.gaussianMean(q: 1, splits: [0]) { Activation.selu.value($0) }
        let square = Reference.gaussianMean(q: 1, splits: [0]) { pow(Activation.selu.value($0), 2) }
        #expect(abs(mean) < 1e-9 && abs(square - 1) < 1e-9)
        #expect(Activation.hardTanh.kinks == [-1, 1] && Activation.relu.kinks == [0] && Activation.tanh.kinks.isEmpty)
    }

    @Test("φ′ and φ″ agree with central differences away from kinks", arguments: everyActivation)
    func derivatives(phi: Activation) {
        let h = 1e-5
        for x in [-7.3, -3.7, -1.3, -0.4, -1e-3, 0.25, 0.9, 2.2, 5.1, 9.6] {
            let d1 = (phi.value(x + h) - phi.value(x - h)) / (2 * h)
            let d2 = (phi.derivative(x + h) - phi.derivative(x - h)) / (2 * h)
            #expect(abs(phi.derivative(x) - d1) <= 1e-8 * max(1, abs(d1)), "φ′(\(x))")
            #expect(abs(phi.secondDerivative(x) - d2) <= 1e-8 * max(1, abs(d2)), "φ″(\(x))")
        }
    }

    @Test("one-sided derivative convention at kinks; jumps of φ′")
    func kinkConvention() {
        #expect(Activation.relu.derivative(0) == 0)
        #expect(Activation.leakyReLU(slope: 0.2).derivative(0) == 0.2)
        #expect(Activation.hardTanh.derivative(1) == 0 && Activation.hardTanh.derivative(-1) == 0)
        let selu = Activation.selu.derivativeJumps
        #expect(selu.count == 1 && abs(selu[0].jump - Activation.seluLambda * (1 - Activation.seluAlpha)) < 1e-14)
        #expect(Activation.hardTanh.derivativeJumps.map(\.jump) == [1, -1])
    }
}
