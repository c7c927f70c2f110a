// "Did you mean …?": the known name a mistyped one most likely meant (git's and cargo's
// suggestion for an unknown subcommand).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nodegate::base {

// Edit distance where inserting, deleting or changing a character, or swapping two neighbours,
// costs 1 (the optimal-string-alignment form of Damerau–Levenshtein).
int EditDistance(std::string_view a, std::string_view b);

// The candidate `typed` most likely stands for: the nearest by EditDistance when it is within 1
// (typed of up to 4 characters) or 2 (longer), else one that `typed` begins (3 characters or
// more). nullopt when nothing is that close, or `typed` is itself a candidate. Ties go to the
// earlier candidate.
std::optional<std::string> ClosestName(std::string_view typed,
                                       const std::vector<std::string>& candidates);

}  // namespace nodegate::base
