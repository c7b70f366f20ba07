#include "common/protocol/protocol.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

// FNV-1a: a per-identity stream that does not depend on the standard library's std::hash.
uint64_t NameHash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::mt19937_64 StreamFor(uint64_t seed, const std::string& name, uint64_t purpose) {
  std::seed_seq seq{seed, NameHash(name), purpose};
  return std::mt19937_64(seq);
}

}  // namespace

absl::StatusOr<SplitRoles> ParseSplitRoles(const std::string& name) {
  if (name == "by_count") return SplitRoles::kByCount;
  if (name == "drawn") return SplitRoles::kDrawn;
  return absl::InvalidArgumentError(
      absl::StrCat("--roles: must be by_count or drawn, got '", name, "'"));
}

std::unordered_map<std::string, std::vector<std::string>> SamplesByIdentity(
    const SourceListing& listing) {
  std::unordered_map<std::string, std::vector<std::string>> by_identity;
  for (size_t i = 0; i < listing.sample_names.size(); ++i) {
    by_identity[listing.identities[i]].push_back(listing.sample_names[i]);
  }
  return by_identity;
}

absl::StatusOr<DataSplit> MakeSplit(const SourceListing& listing, const SplitOptions& options) {
  if (options.regular < 0 || options.ur_images < 0 || options.holdout < 0 ||
      options.validation < 0 || options.min_train < 1) {
    return absl::InvalidArgumentError(
        "split: counts must be non-negative and min_train at least 1");
  }
  std::map<std::string, std::vector<std::string>> members;  // ordered by name
  for (size_t i = 0; i < listing.sample_names.size(); ++i) {
    if (!options.identities.empty() && options.identities.count(listing.identities[i]) == 0)
      continue;
    members[listing.identities[i]].push_back(listing.sample_names[i]);
  }
  if (members.empty()) {
    return absl::InvalidArgumentError("split: no images of the selected identities in the source");
  }
  std::vector<const std::pair<const std::string, std::vector<std::string>>*> order;
  for (const auto& entry : members) order.push_back(&entry);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->second.size() > b->second.size();  // stable: ties stay in name order
  });
  if (options.regular > static_cast<int>(order.size())) {
    return absl::InvalidArgumentError(absl::StrCat("split: --regular ", options.regular,
                                                   " but the source has only ", order.size(),
                                                   " identities"));
  }
  // The regular identities: the first K by count, or K drawn among those able to play both roles.
  std::set<std::string> regular;
  if (options.roles == SplitRoles::kByCount) {
    for (int k = 0; k < options.regular; ++k) regular.insert(order[k]->first);
  } else {
    // Enough to be a UR identity: its budget (or min_train), its probes, and its validation
    // images when they are taken beyond the budget (only a budget has a beyond).
    const bool beyond = options.ur_validation_beyond_budget && options.ur_images > 0;
    const int64_t needed = (options.ur_images > 0 ? options.ur_images : options.min_train) +
                           options.holdout + (beyond ? options.validation : 0);
    std::vector<std::string> eligible;  // in name order (members is a map): seed-determined draw
    for (const auto& [identity, samples] : members) {
      if (static_cast<int64_t>(samples.size()) >= needed) eligible.push_back(identity);
    }
    if (static_cast<int>(eligible.size()) < options.regular) {
      return absl::InvalidArgumentError(absl::StrCat(
          "split: --roles drawn needs ", options.regular, " identities with at least ", needed,
          " images to draw the regular ones from, but the source has ", eligible.size()));
    }
    std::mt19937_64 rng = StreamFor(options.seed, "", 2);
    std::shuffle(eligible.begin(), eligible.end(), rng);
    regular.insert(eligible.begin(), eligible.begin() + options.regular);
  }
  DataSplit split;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const std::string& identity = order[rank]->first;
    std::vector<std::string> samples = order[rank]->second;
    std::mt19937_64 rng = StreamFor(options.seed, identity, 1);
    std::shuffle(samples.begin(), samples.end(), rng);
    IdentitySplit s;
    s.identity = identity;
    s.regular = regular.count(identity) > 0;
    s.total = static_cast<int64_t>(samples.size());
    s.holdout = s.total - options.holdout >= options.min_train ? options.holdout : 0;
    const int64_t available = s.total - s.holdout;
    int64_t train = available;
    if (!s.regular && options.ur_images > 0) train = std::min<int64_t>(train, options.ur_images);
    s.train = train;
    // Shuffled images: [hold-out][validation][training] or, beyond the budget,
    // [hold-out][training][validation].
    auto next = samples.begin();
    split.holdout.insert(split.holdout.end(), next, next + s.holdout);
    next += s.holdout;
    s.validation_beyond_budget = options.ur_validation_beyond_budget && !s.regular &&
                                 options.validation > 0 && available - train >= options.validation;
    if (s.validation_beyond_budget) {
      s.validation = options.validation;
      split.train.insert(split.train.end(), next, next + s.train);
      split.fit.insert(split.fit.end(), next, next + s.train);
      split.validation.insert(split.validation.end(), next + s.train,
                              next + s.train + s.validation);
    } else {
      s.validation = std::min<int64_t>(options.validation, std::max<int64_t>(train - 1, 0));
      split.validation.insert(split.validation.end(), next, next + s.validation);
      split.train.insert(split.train.end(), next, next + s.train);
      split.fit.insert(split.fit.end(), next + s.validation, next + s.train);
    }
    if (s.regular) split.regular_identities.push_back(identity);
    split.identities.push_back(s);
  }
  // Manifests in source order read better and load faster (sequential files).
  for (auto* list : {&split.train, &split.fit, &split.validation, &split.holdout}) {
    std::sort(list->begin(), list->end());
  }
  std::sort(split.regular_identities.begin(), split.regular_identities.end());
  return split;
}

absl::Status WriteSplit(const DataSplit& split, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  const std::filesystem::path root(dir);
  FTL_RETURN_IF_ERROR(WriteManifest((root / "train.txt").string(), split.train));
  FTL_RETURN_IF_ERROR(WriteManifest((root / "fit.txt").string(), split.fit));
  FTL_RETURN_IF_ERROR(WriteManifest((root / "validation.txt").string(), split.validation));
  FTL_RETURN_IF_ERROR(WriteManifest((root / "holdout.txt").string(), split.holdout));
  FTL_RETURN_IF_ERROR(WriteManifest((root / "regular.txt").string(), split.regular_identities));
  std::ofstream csv((root / "identities.csv").string(), std::ios::trunc);
  csv << "identity,role,total,train,validation,holdout,validation_from\n";
  for (const IdentitySplit& s : split.identities) {
    csv << s.identity << "," << (s.regular ? "regular" : "ur") << "," << s.total << "," << s.train
        << "," << s.validation << "," << s.holdout << ","
        << (s.validation == 0            ? "none"
            : s.validation_beyond_budget ? "beyond_budget"
                                         : "train")
        << "\n";
  }
  csv.flush();
  if (!csv) return absl::InternalError(absl::StrCat(dir, "/identities.csv: cannot write"));
  return absl::OkStatus();
}

absl::StatusOr<std::unordered_set<std::string>> ReadIdentityList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::unordered_set<std::string> names;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const std::vector<std::string> fields =
        absl::StrSplit(absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.empty()) continue;
    int count = 0;
    // LFW's people files start with a count line ("4038") and give "name<TAB>count".
    if (line_number == 1 && fields.size() == 1 && absl::SimpleAtoi(fields[0], &count)) continue;
    if (fields.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected \"name\" or \"name count\""));
    }
    names.insert(fields[0]);
  }
  if (names.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": lists no identities"));
  return names;
}

absl::StatusOr<GeneratedPairs> GeneratePairs(const SourceListing& listing,
                                             const std::vector<std::string>& eligible,
                                             const PairOptions& options) {
  if (options.folds < 1 || options.per_fold < 1) {
    return absl::InvalidArgumentError("pairs: folds and per_fold must be at least 1");
  }
  const std::set<std::string> allowed(eligible.begin(), eligible.end());
  // identity -> (1-based index within the identity, sample) of the eligible samples.
  std::map<std::string, std::vector<int>> candidates;
  std::map<std::string, int> seen;
  for (size_t i = 0; i < listing.sample_names.size(); ++i) {
    const int index = ++seen[listing.identities[i]];
    if (allowed.empty() || allowed.count(listing.sample_names[i]) > 0) {
      candidates[listing.identities[i]].push_back(index);
    }
  }
  if (candidates.size() < 2)
    return absl::InvalidArgumentError("pairs: need images of at least two identities");
  const int folds = options.folds;
  GeneratedPairs out;
  out.identity_disjoint = static_cast<int>(candidates.size()) >= 2 * folds;
  // Each fold's pool: identity -> indices.
  std::vector<std::map<std::string, std::vector<int>>> pool(folds);
  std::mt19937_64 rng = StreamFor(options.seed, "pairs", 2);
  if (out.identity_disjoint) {
    std::vector<std::string> names;
    for (const auto& entry : candidates) names.push_back(entry.first);
    std::shuffle(names.begin(), names.end(), rng);
    for (size_t i = 0; i < names.size(); ++i) pool[i % folds][names[i]] = candidates[names[i]];
  } else {
    for (auto& [name, indices] : candidates) {
      std::vector<int> shuffled = indices;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      for (size_t i = 0; i < shuffled.size(); ++i) pool[i % folds][name].push_back(shuffled[i]);
    }
  }
  for (int f = 0; f < folds; ++f) {
    std::vector<std::string> with_two, any;
    for (const auto& [name, indices] : pool[f]) {
      if (!indices.empty()) any.push_back(name);
      if (indices.size() >= 2) with_two.push_back(name);
    }
    if (with_two.empty() || any.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("pairs: fold ", f + 1,
                       " has too few images for same and different pairs; use fewer folds"));
    }
    std::set<std::tuple<std::string, int, std::string, int>> used;
    auto pick = [&](const std::vector<std::string>& names) -> const std::string& {
      return names[std::uniform_int_distribution<size_t>(0, names.size() - 1)(rng)];
    };
    auto pick_index = [&](const std::vector<int>& indices) {
      return indices[std::uniform_int_distribution<size_t>(0, indices.size() - 1)(rng)];
    };
    for (int kind = 0; kind < 2; ++kind) {
      const bool same = kind == 0;
      int made = 0, attempts = 0;
      while (made < options.per_fold) {
        if (++attempts > 200 * options.per_fold + 1000) {
          return absl::InvalidArgumentError(
              absl::StrCat("pairs: fold ", f + 1, " allows only ", made, " distinct ",
                           same ? "same" : "different", " pairs; lower --per_fold (asked ",
                           options.per_fold, ")"));
        }
        VerificationPair p;
        p.same = same;
        p.fold = f;
        p.name1 = pick(same ? with_two : any);
        p.name2 = same ? p.name1 : pick(any);
        if (!same && p.name2 == p.name1) continue;
        p.index1 = pick_index(pool[f][p.name1]);
        p.index2 = pick_index(pool[f][p.name2]);
        if (same && p.index1 == p.index2) continue;
        auto key = std::make_tuple(p.name1, p.index1, p.name2, p.index2);
        if (same && p.index1 > p.index2)
          key = std::make_tuple(p.name1, p.index2, p.name2, p.index1);
        if (!same && p.name1 > p.name2) key = std::make_tuple(p.name2, p.index2, p.name1, p.index1);
        if (!used.insert(key).second) continue;
        out.pairs.push_back(p);
        ++made;
      }
    }
  }
  return out;
}

}  // namespace ftl
