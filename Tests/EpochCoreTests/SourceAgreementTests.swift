import Testing

@testable import EpochCore

@Suite struct SourceAgreementTests {
    func interval(_ source: String, _ offset: Int64, _ bound: Int64) -> OffsetInterval {
        OffsetInterval(source: source, offset: offset, bound: bound)
    }

    @Test func overlappingSourcesAgreeOnTheirIntersection() {
        let agreement = SourceAgreement([interval("a", 100, 50), interval("b", 120, 50), interval("c", 90, 20)])
        #expect(agreement.agreeing == ["a", "b", "c"])
        #expect(agreement.isUnanimous && agreement.hasMajority)
        #expect(agreement.intersection == 70...110)
    }

    @Test func theSourceOutsideTheMajorityIsNamed() {
        let agreement = SourceAgreement([
            interval("a", 0, 1_000), interval("liar", 20_000_000_000, 1_000), interval("c", 500, 1_000),
        ])
        #expect(agreement.agreeing == ["a", "c"])
        #expect(agreement.disagreeing == ["liar"])
        #expect(!agreement.isUnanimous && agreement.hasMajority)
        #expect(agreement.intersection == -500...1_000)
    }

    @Test func touchingIntervalsOverlap() {
        let agreement = SourceAgreement([interval("a", 0, 10), interval("b", 20, 10)])
        #expect(agreement.isUnanimous)
        #expect(agreement.intersection == 10...10)
    }

    @Test func twoDisjointSourcesHaveNoMajority() {
        let agreement = SourceAgreement([interval("a", 0, 10), interval("b", 100, 10)])
        #expect(agreement.agreeing.count == 1 && agreement.disagreeing.count == 1)
        #expect(!agreement.hasMajority)
    }

    @Test func noSourcesNoIntersection() {
        let agreement = SourceAgreement([])
        #expect(agreement.intersection == nil && agreement.agreeing.isEmpty)
    }

    /// A tie trusts no group; a strict majority is trusted (the control).
    @Test func aTieTrustsNoOne() {
        let tie = SourceAgreement([
            OffsetInterval(source: "a", offset: 0, bound: 10), OffsetInterval(source: "b", offset: 100, bound: 10),
        ])
        #expect(!tie.hasMajority && tie.trusted.isEmpty)
        let majority = SourceAgreement([
            OffsetInterval(source: "a", offset: 0, bound: 10), OffsetInterval(source: "b", offset: 100, bound: 10),
            OffsetInterval(source: "c", offset: 5, bound: 10),
        ])
        #expect(majority.trusted == ["a", "c"])
    }
}
