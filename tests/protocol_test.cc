// The Table-1 split and generated verification pairs, on synthetic listings; the experiment
// budget and its progress lines.
#include "common/protocol/protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/protocol/budget.h"
#include "common/protocol/progress.h"

namespace ftl {
namespace {

// Identity "id<k>" with counts[k] images "id<k>/<i>.png".
SourceListing Listing(const std::vector<int>& counts) {
  SourceListing listing;
  for (size_t k = 0; k < counts.size(); ++k) {
    for (int i = 0; i < counts[k]; ++i) {
      listing.sample_names.push_back(absl::StrCat("id", k, "/", 100 + i, ".png"));
      listing.identities.push_back(absl::StrCat("id", k));
    }
  }
  return listing;
}

std::string IdentityOf(const std::string& sample) { return sample.substr(0, sample.find('/')); }

std::map<std::string, int> CountBy(const std::vector<std::string>& samples) {
  std::map<std::string, int> counts;
  for (const std::string& s : samples) ++counts[IdentityOf(s)];
  return counts;
}

TEST(SplitTest, TopKStayRegularOthersAreCutAndProbesAreHeldOut) {
  // id0..id2 have 30, 12, 30 images: by count (ties by name) id0, id2 are the top 2.
  const SourceListing listing = Listing({30, 12, 30, 9, 4});
  SplitOptions options;
  options.regular = 2;
  options.ur_images = 5;
  options.holdout = 4;
  options.validation = 2;
  options.seed = 11;
  absl::StatusOr<DataSplit> split = MakeSplit(listing, options);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->regular_identities, (std::vector<std::string>{"id0", "id2"}));
  const auto train = CountBy(split->train), holdout = CountBy(split->holdout);
  const auto validation = CountBy(split->validation), fit = CountBy(split->fit);
  EXPECT_EQ(train.at("id0"), 26);  // 30 - 4 held out, not cut
  EXPECT_EQ(train.at("id2"), 26);
  EXPECT_EQ(train.at("id1"), 5);  // 12 - 4 = 8, cut to 5
  EXPECT_EQ(train.at("id3"), 5);
  EXPECT_EQ(train.at("id4"), 4);  // 4 - 4 would leave nothing: no probes, all 4 train (< 5)
  EXPECT_EQ(holdout.count("id4"), 0u);
  EXPECT_EQ(holdout.at("id1"), 4);
  for (const auto& [id, n] : validation) {
    EXPECT_EQ(n, 2) << id;
    EXPECT_EQ(fit.at(id), train.at(id) - 2) << id;
  }
  // Hold-out probes are never trained on; validation images are training images not in fit.
  const std::set<std::string> train_set(split->train.begin(), split->train.end());
  const std::set<std::string> fit_set(split->fit.begin(), split->fit.end());
  for (const std::string& s : split->holdout) EXPECT_EQ(train_set.count(s), 0u) << s;
  for (const std::string& s : split->validation) {
    EXPECT_EQ(train_set.count(s), 1u) << s;
    EXPECT_EQ(fit_set.count(s), 0u) << s;
  }
  // Roles and counts in the per-identity table, most images first.
  ASSERT_EQ(split->identities.size(), 5u);
  EXPECT_EQ(split->identities[0].identity, "id0");
  EXPECT_TRUE(split->identities[1].regular);
  EXPECT_EQ(split->identities[1].identity, "id2");
  EXPECT_FALSE(split->identities[2].regular);
}

TEST(SplitTest, SameSeedSameSplitOtherSeedOtherImages) {
  const SourceListing listing = Listing({40, 40, 20});
  SplitOptions options;
  options.regular = 1;
  options.ur_images = 3;
  options.holdout = 5;
  absl::StatusOr<DataSplit> a = MakeSplit(listing, options), b = MakeSplit(listing, options);
  options.seed = 2;
  absl::StatusOr<DataSplit> c = MakeSplit(listing, options);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train, b->train);
  EXPECT_EQ(a->holdout, b->holdout);
  EXPECT_NE(a->holdout, c->holdout);
  EXPECT_EQ(a->train.size(), c->train.size());
}

TEST(SplitTest, IdentityFilterAndBadRequests) {
  const SourceListing listing = Listing({6, 6, 6});
  SplitOptions options;
  options.identities = {"id1", "id2"};
  options.regular = 1;
  absl::StatusOr<DataSplit> split = MakeSplit(listing, options);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(CountBy(split->train).count("id0"), 0u);
  EXPECT_EQ(split->regular_identities, (std::vector<std::string>{"id1"}));
  options.regular = 3;  // only two identities selected
  EXPECT_FALSE(MakeSplit(listing, options).ok());
  options.identities = {"nobody"};
  options.regular = 0;
  EXPECT_FALSE(MakeSplit(listing, options).ok());
}

// --roles drawn: K regular identities drawn from the seed among those with enough images (here
// ur_images 3 + holdout 2 = 5); a different seed draws different people, and the by-count rule
// is unchanged by the seed.
TEST(SplitTest, DrawnRolesChangeWithTheSeedAmongEligibleIdentities) {
  // id0..id7 have 20 images, id8 has 4 (too few to be drawn regular: always UR).
  const SourceListing listing = Listing({20, 20, 20, 20, 20, 20, 20, 20, 4});
  SplitOptions options;
  options.regular = 4;
  options.ur_images = 3;
  options.holdout = 2;
  options.roles = SplitRoles::kDrawn;
  std::set<std::vector<std::string>> drawn;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    options.seed = seed;
    absl::StatusOr<DataSplit> split = MakeSplit(listing, options);
    ASSERT_TRUE(split.ok()) << split.status();
    ASSERT_EQ(split->regular_identities.size(), 4u);
    EXPECT_EQ(std::count(split->regular_identities.begin(), split->regular_identities.end(), "id8"),
              0);
    // The same seed draws the same people.
    EXPECT_EQ(MakeSplit(listing, options)->regular_identities, split->regular_identities);
    // Roles decide the cut: regular keep 18, UR 3.
    const auto train = CountBy(split->train);
    for (const IdentitySplit& s : split->identities) {
      const bool listed = std::count(split->regular_identities.begin(),
                                     split->regular_identities.end(), s.identity) > 0;
      EXPECT_EQ(s.regular, listed) << s.identity;
      if (s.identity != "id8") EXPECT_EQ(train.at(s.identity), s.regular ? 18 : 3) << s.identity;
    }
    drawn.insert(split->regular_identities);
  }
  EXPECT_GE(drawn.size(), 4u) << "six seeds drew the same regular identities";
  options.roles = SplitRoles::kByCount;
  for (uint64_t seed : {1, 2}) {
    options.seed = seed;
    EXPECT_EQ(MakeSplit(listing, options)->regular_identities,
              (std::vector<std::string>{"id0", "id1", "id2", "id3"}));
  }
  // Too few eligible identities is an error that says how many there are.
  options.roles = SplitRoles::kDrawn;
  options.regular = 9;
  const absl::StatusOr<DataSplit> too_many = MakeSplit(listing, options);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("has 8"), std::string::npos)
      << too_many.status().message();
  EXPECT_EQ(ParseSplitRoles("drawn").value(), SplitRoles::kDrawn);
  EXPECT_EQ(ParseSplitRoles("by_count").value(), SplitRoles::kByCount);
  EXPECT_FALSE(ParseSplitRoles("random").ok());
}

// Validation beyond the budget: a UR identity with images to spare keeps all ur_images for
// tuning (fit) and the final runs (train), and is validated on images neither trains on; one
// without spare images falls back to carving from its budget.
TEST(SplitTest, UrValidationBeyondTheBudgetKeepsTuningInTheSameRegime) {
  // id0 regular (30), id1 UR with 12 (12 - 2 held out = 10 >= 4 + 2), id2 UR with 7 (5 < 4 + 2).
  const SourceListing listing = Listing({30, 12, 7});
  SplitOptions options;
  options.regular = 1;
  options.ur_images = 4;
  options.holdout = 2;
  options.validation = 2;
  options.ur_validation_beyond_budget = true;
  absl::StatusOr<DataSplit> split = MakeSplit(listing, options);
  ASSERT_TRUE(split.ok()) << split.status();
  const auto train = CountBy(split->train), fit = CountBy(split->fit);
  const auto validation = CountBy(split->validation);
  EXPECT_EQ(train.at("id1"), 4);
  EXPECT_EQ(fit.at("id1"), 4);  // tuning trains the UR identity on its whole budget
  EXPECT_EQ(validation.at("id1"), 2);
  EXPECT_EQ(train.at("id2"), 4);  // too few beyond the budget: carved from it, as before
  EXPECT_EQ(fit.at("id2"), 2);
  EXPECT_EQ(validation.at("id2"), 2);
  EXPECT_EQ(train.at("id0"), 28);  // regular identities: carved from their training images
  EXPECT_EQ(fit.at("id0"), 26);
  const std::set<std::string> train_set(split->train.begin(), split->train.end());
  const std::set<std::string> holdout_set(split->holdout.begin(), split->holdout.end());
  for (const std::string& v : split->validation) {
    EXPECT_EQ(holdout_set.count(v), 0u) << v;
    EXPECT_EQ(train_set.count(v), IdentityOf(v) == "id1" ? 0u : 1u) << v;
  }
  for (const IdentitySplit& s : split->identities)
    EXPECT_EQ(s.validation_beyond_budget, s.identity == "id1") << s.identity;
  // Off (the default), the same source carves every identity's validation from its training.
  options.ur_validation_beyond_budget = false;
  EXPECT_EQ(CountBy(MakeSplit(listing, options)->fit).at("id1"), 2);
}

TEST(SplitTest, WritesManifestsThatReadBack) {
  const std::string dir = ::testing::TempDir() + "/split_out";
  std::filesystem::remove_all(dir);
  SplitOptions options;
  options.regular = 1;
  options.holdout = 2;
  absl::StatusOr<DataSplit> split = MakeSplit(Listing({8, 5}), options);
  ASSERT_TRUE(split.ok());
  ASSERT_TRUE(WriteSplit(*split, dir).ok());
  absl::StatusOr<std::vector<std::string>> train = ReadManifest(dir + "/train.txt");
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(*train, split->train);
  std::ifstream csv(dir + "/identities.csv");
  std::string header, first;
  std::getline(csv, header);
  std::getline(csv, first);
  EXPECT_EQ(header, "identity,role,total,train,validation,holdout,validation_from");
  EXPECT_EQ(first, "id0,regular,8,6,0,2,none");
}

TEST(IdentityListTest, ReadsLfwPeopleFilesAndPlainLists) {
  const std::string path = ::testing::TempDir() + "/people.txt";
  std::ofstream(path) << "3\nAJ_Cook\t1\nAaron_Peirsol\t4\n\nZed 2\n";
  absl::StatusOr<std::unordered_set<std::string>> names = ReadIdentityList(path);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::unordered_set<std::string>{"AJ_Cook", "Aaron_Peirsol", "Zed"}));
  std::ofstream(path) << "a b c\n";
  EXPECT_FALSE(ReadIdentityList(path).ok());
}

TEST(PairsTest, BalancedFoldsDisjointByIdentityWithValidIndices) {
  const SourceListing listing = Listing({10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10});
  PairOptions options;
  options.folds = 4;
  options.per_fold = 6;
  absl::StatusOr<GeneratedPairs> out = GeneratePairs(listing, {}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->identity_disjoint);
  ASSERT_EQ(out->pairs.size(), 4u * 12u);
  std::map<std::string, int> fold_of;
  std::set<std::tuple<std::string, int, std::string, int>> seen;
  for (size_t i = 0; i < out->pairs.size(); ++i) {
    const VerificationPair& p = out->pairs[i];
    EXPECT_EQ(p.fold, static_cast<int>(i / 12));
    EXPECT_EQ(p.same, i % 12 < 6);  // same pairs first in every fold
    EXPECT_EQ(p.same, p.name1 == p.name2);
    if (p.same) {
      EXPECT_NE(p.index1, p.index2);
    }
    for (int index : {p.index1, p.index2}) {
      EXPECT_GE(index, 1);
      EXPECT_LE(index, 10);
    }
    for (const std::string& name : {p.name1, p.name2}) {
      auto [it, fresh] = fold_of.emplace(name, p.fold);
      EXPECT_EQ(it->second, p.fold) << name << " appears in two folds";
    }
    EXPECT_TRUE(seen.emplace(p.name1, p.index1, p.name2, p.index2).second) << "duplicate pair";
  }
}

TEST(PairsTest, OnlyEligibleImagesAndImageDisjointFallback) {
  // Three identities cannot fill 4 folds by identity: folds are disjoint by image instead.
  const SourceListing listing = Listing({12, 12, 12});
  std::vector<std::string> eligible;
  for (size_t i = 0; i < listing.sample_names.size(); i += 2)
    eligible.push_back(listing.sample_names[i]);
  PairOptions options;
  options.folds = 2;
  options.per_fold = 3;
  absl::StatusOr<GeneratedPairs> out = GeneratePairs(listing, eligible, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->identity_disjoint);
  std::map<std::pair<std::string, int>, int> fold_of;
  for (const VerificationPair& p : out->pairs) {
    for (const auto& image :
         {std::make_pair(p.name1, p.index1), std::make_pair(p.name2, p.index2)}) {
      EXPECT_EQ(image.second % 2, 1)
          << "index " << image.second << " is not an eligible (odd) image";
      auto [it, fresh] = fold_of.emplace(image, p.fold);
      EXPECT_EQ(it->second, p.fold) << "an image in two folds";
    }
  }
  // Asking for more distinct same pairs than exist is a clear error, not an endless loop.
  options.per_fold = 500;
  absl::StatusOr<GeneratedPairs> too_many = GeneratePairs(listing, eligible, options);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("per_fold"), std::string::npos) << too_many.status();
  EXPECT_FALSE(GeneratePairs(Listing({10}), {}, options).ok());  // one identity
}

TEST(PairsTest, WrittenFileReadsBackAsTheSamePairs) {
  PairOptions options;
  options.folds = 3;
  options.per_fold = 4;
  absl::StatusOr<GeneratedPairs> out = GeneratePairs(Listing({5, 5, 5, 5, 5, 5, 5}), {}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string path = ::testing::TempDir() + "/generated_pairs.txt";
  ASSERT_TRUE(WritePairsFile(path, out->pairs, 3, 4).ok());
  absl::StatusOr<std::vector<VerificationPair>> back = ReadPairsFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), out->pairs.size());
  for (size_t i = 0; i < back->size(); ++i) {
    EXPECT_EQ((*back)[i].name1, out->pairs[i].name1);
    EXPECT_EQ((*back)[i].index2, out->pairs[i].index2);
    EXPECT_EQ((*back)[i].same, out->pairs[i].same);
    EXPECT_EQ((*back)[i].fold, out->pairs[i].fold);
  }
  EXPECT_FALSE(WritePairsFile(path, out->pairs, 3, 5).ok());  // does not fill the layout
}

// Naive --budget auto: steps of `batch` images until 20 epochs are covered, then the bounds.
int64_t NaiveAutoPretrain(int64_t images, int64_t batch) {
  int64_t steps = 0, seen = 0;
  while (seen < 20 * images) {
    seen += batch;
    ++steps;
  }
  if (steps < 300) return 300;
  if (steps > 3000) return 3000;
  return steps;
}

TEST(BudgetTest, ParsesThreeCountsOrAutoAndNamesTheFlagOtherwise) {
  absl::StatusOr<ExperimentBudget> b = ParseBudget("400,2,150");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->pretrain, 400);
  EXPECT_EQ(b->rounds, 2);
  EXPECT_EQ(b->stage, 150);
  EXPECT_FALSE(b->automatic);
  b = ParseBudget("auto");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->automatic);
  for (const char* bad : {"", "10,2", "10,2,0", "0,1,1", "a,b,c", "10,2,5,1", "Auto"}) {
    const absl::StatusOr<ExperimentBudget> refused = ParseBudget(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(std::string(refused.status().message()).find("--budget"), std::string::npos);
  }
}

TEST(BudgetTest, AutoIsTwentyEpochsWithinBoundsAndStagesOfAThird) {
  // Yale B's 821 images at 2 x 32: 257 iterations, raised to 300; LFW DevTrain's 8665 at 2 x 32:
  // 2708; at 1 x 32: 5416, cut to 3000; and sizes around the bounds and exact divisions.
  for (const auto& [images, batch] : std::vector<std::pair<int64_t, int64_t>>{{821, 64},
                                                                              {8665, 64},
                                                                              {8665, 32},
                                                                              {960, 64},
                                                                              {961, 64},
                                                                              {9600, 64},
                                                                              {9601, 64},
                                                                              {1, 1},
                                                                              {5000, 7},
                                                                              {100000, 256}}) {
    const ExperimentBudget b = AutoBudget(images, batch);
    const int64_t pretrain = NaiveAutoPretrain(images, batch);
    EXPECT_EQ(b.pretrain, pretrain) << images << " images, batch " << batch;
    EXPECT_EQ(b.rounds, 2);
    EXPECT_GE(3 * b.stage, b.pretrain);  // a third, rounded up
    EXPECT_LT(3 * (b.stage - 1), b.pretrain);
    EXPECT_FALSE(b.automatic);
  }
  EXPECT_EQ(AutoBudget(821, 64).pretrain, 300);
  EXPECT_EQ(AutoBudget(8665, 64).pretrain, 2708);
  EXPECT_EQ(AutoBudget(8665, 64).stage, 903);
  EXPECT_EQ(AutoBudget(8665, 32).pretrain, 3000);
}

TEST(ExperimentProgressTest, CountsRunsAndEstimatesTheRestFromIterationsAtThePaceSoFar) {
  ExperimentProgress progress;
  progress.Plan(4, 100);   // four short tuning runs
  progress.Plan(2, 1000);  // two long final runs
  progress.Drop(1, 1000);  // one final run's base failed
  EXPECT_EQ(progress.planned_runs(), 5);
  // 100 iterations in 10 s: 0.1 s each, 3 x 100 + 1000 left. Counting runs instead of iterations
  // would say 4 runs x 10 s = 0:00:40.
  EXPECT_EQ(progress.Finished(100, 10.0), "run 1/5, about 0:02:10 left");
  EXPECT_EQ(progress.Finished(100, 30.0), "run 2/5, about 0:03:00 left");  // 0.15 s x 1200
  EXPECT_EQ(progress.Finished(100, 30.0), "run 3/5, about 0:01:50 left");  // 0.1 s x 1100
  EXPECT_EQ(progress.Finished(100, 40.0), "run 4/5, about 0:01:40 left");
  EXPECT_EQ(progress.Finished(1000, 140.0), "run 5/5, about 0:00:00 left");
  EXPECT_EQ(progress.finished_runs(), 5);
  // A run nobody planned (never in practice) still counts without a negative time.
  EXPECT_EQ(progress.Finished(10, 141.0), "run 6/6, about 0:00:00 left");
}

}  // namespace
}  // namespace ftl
