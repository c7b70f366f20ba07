#include "common/eval/pairs.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/file.h"

namespace ftl {

absl::StatusOr<std::vector<VerificationPair>> ReadPairsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header =
      absl::StrSplit(absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  int folds = 1, per_fold = 0;
  const bool ok = header.size() == 1   ? absl::SimpleAtoi(header[0], &per_fold)
                  : header.size() == 2 ? absl::SimpleAtoi(header[0], &folds) &&
                                             absl::SimpleAtoi(header[1], &per_fold)
                                       : false;
  if (!ok || folds < 1 || per_fold < 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":1: expected \"N\" or \"FOLDS N\""));
  }
  std::vector<VerificationPair> pairs;
  int line_number = 1;
  for (int f = 0; f < folds; ++f) {
    for (int i = 0; i < 2 * per_fold; ++i) {
      ++line_number;
      if (!std::getline(in, line)) {
        return absl::DataLossError(absl::StrCat(path, ":", line_number,
                                                ": file ends early (header promises ",
                                                folds * 2 * per_fold, " pairs)"));
      }
      const std::vector<std::string> f_ = absl::StrSplit(absl::StripAsciiWhitespace(line),
                                                         absl::ByAnyChar(" \t"), absl::SkipEmpty());
      VerificationPair p;
      p.same = i < per_fold;
      bool parsed;
      if (p.same) {
        parsed = f_.size() == 3 && absl::SimpleAtoi(f_[1], &p.index1) &&
                 absl::SimpleAtoi(f_[2], &p.index2);
        if (parsed) p.name1 = p.name2 = f_[0];
      } else {
        parsed = f_.size() == 4 && absl::SimpleAtoi(f_[1], &p.index1) &&
                 absl::SimpleAtoi(f_[3], &p.index2);
        if (parsed) {
          p.name1 = f_[0];
          p.name2 = f_[2];
        }
      }
      if (!parsed) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": expected a ",
                                                       p.same ? "same" : "different",
                                                       " pair, got \"", line, "\""));
      }
      p.fold = folds > 1 ? f : static_cast<int>(pairs.size() % 10);
      pairs.push_back(p);
    }
  }
  return pairs;
}

absl::Status WritePairsFile(const std::string& path, const std::vector<VerificationPair>& pairs,
                            int folds, int per_fold) {
  if (static_cast<int64_t>(pairs.size()) != int64_t{2} * folds * per_fold) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", pairs.size(), " pairs do not fill ",
                                                   folds, " folds of ", per_fold, " + ", per_fold));
  }
  std::string text = absl::StrCat(folds, "\t", per_fold, "\n");
  for (const VerificationPair& p : pairs) {
    if (p.same) {
      absl::StrAppend(&text, p.name1, "\t", p.index1, "\t", p.index2, "\n");
    } else {
      absl::StrAppend(&text, p.name1, "\t", p.index1, "\t", p.name2, "\t", p.index2, "\n");
    }
  }
  return WriteFileAtomically(path, text);
}

std::string LfwImagePath(const std::string& root, const std::string& name, int index) {
  return absl::StrFormat("%s/%s/%s_%04d.jpg", root, name, name, index);
}

}  // namespace ftl
