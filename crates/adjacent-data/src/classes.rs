//! A subset of a data set's classes (`--classes`): training and scoring on some of its classes,
//! relabelled in the order they are listed, as a task of its own.

use crate::{DataError, Dataset, ImageSet};

/// The classes a list names, as indices into `names` in the order listed. An item is a class's
/// name, its index, or a range of indices `a-b` (both included); a name wins over a range that
/// reads the same (Fashion-MNIST's `t-shirt/top` is a name). A class named twice, an index out of
/// range and a name the data set does not have are errors that say which.
pub fn parse_classes(list: &str, names: &[String]) -> Result<Vec<usize>, DataError> {
    let bad = |reason: String| DataError::InvalidSetting {
        field: "--classes".into(),
        reason,
    };
    let index = |text: &str| -> Result<usize, DataError> {
        let i: usize = text
            .trim()
            .parse()
            .map_err(|_| bad(format!("{text:?} is not a class index")))?;
        match i < names.len() {
            true => Ok(i),
            false => Err(bad(format!(
                "class {i} is out of range: the data set has {} classes (0 to {})",
                names.len(),
                names.len().saturating_sub(1)
            ))),
        }
    };
    let mut picked: Vec<usize> = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad(format!("{list:?} has an empty item")));
        }
        let items = if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(item)) {
            vec![i]
        } else if item.chars().all(|c| c.is_ascii_digit()) {
            vec![index(item)?]
        } else if let Some((a, b)) = item
            .split_once('-')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .filter(|(a, b)| (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit()))
        {
            let (a, b) = (index(a)?, index(b)?);
            if a > b {
                return Err(bad(format!("the range {item} runs backwards")));
            }
            (a..=b).collect()
        } else {
            return Err(bad(format!(
                "the data set has no class {item:?}; its classes are {}",
                names.join(", ")
            )));
        };
        for i in items {
            if picked.contains(&i) {
                return Err(bad(format!("class {i} ({}) is named twice", names[i])));
            }
            picked.push(i);
        }
    }
    if picked.len() < 2 {
        return Err(bad(format!(
            "{list:?} names {} class; a task needs at least 2",
            picked.len()
        )));
    }
    Ok(picked)
}

impl ImageSet {
    /// The images of `classes` only, relabelled by their position in `classes`.
    pub fn with_classes(&self, classes: &[usize]) -> ImageSet {
        let mut relabel = vec![None; self.classes()];
        for (new, &old) in classes.iter().enumerate() {
            relabel[old] = Some(new as u16);
        }
        let kept: Vec<usize> = (0..self.len())
            .filter(|&i| relabel[self.labels[i] as usize].is_some())
            .collect();
        let mut set = self.select(&kept);
        for label in &mut set.labels {
            *label = relabel[*label as usize].expect("kept");
        }
        set.class_names = classes
            .iter()
            .map(|&i| self.class_names[i].clone())
            .collect();
        set
    }
}

impl Dataset {
    /// The data set restricted to the classes `list` names (see [`parse_classes`]).
    pub fn with_classes(self, list: &str) -> Result<Dataset, DataError> {
        let classes = parse_classes(list, &self.train.class_names)?;
        let names: Vec<&str> = classes
            .iter()
            .map(|&i| self.train.class_names[i].as_str())
            .collect();
        Ok(Dataset {
            source: format!("{} (classes {})", self.source, names.join(", ")),
            train: self.train.with_classes(&classes),
            test: self.test.with_classes(&classes),
        })
    }

    /// The data set with `classes` applied when given.
    pub fn maybe_with_classes(self, classes: Option<&str>) -> Result<Dataset, DataError> {
        match classes {
            Some(list) => self.with_classes(list),
            None => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["t-shirt/top", "trouser", "pullover", "dress", "coat"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn message(list: &str) -> String {
        parse_classes(list, &names()).unwrap_err().to_string()
    }

    #[test]
    fn names_indices_and_ranges_in_the_order_listed() {
        assert_eq!(parse_classes("0-2", &names()).unwrap(), vec![0, 1, 2]);
        assert_eq!(
            parse_classes("coat, 1,T-SHIRT/TOP", &names()).unwrap(),
            vec![4, 1, 0]
        );
        assert_eq!(parse_classes("3-4,0", &names()).unwrap(), vec![3, 4, 0]);
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        assert!(
            message("0,5").contains("class 5 is out of range"),
            "{}",
            message("0,5")
        );
        assert!(message("1,trouser").contains("named twice"));
        assert!(message("0-2,2").contains("class 2 (pullover) is named twice"));
        assert!(message("0,shoe").contains("no class \"shoe\""));
        assert!(message("3-1").contains("runs backwards"));
        assert!(message("0,,1").contains("empty item"));
        assert!(message("2").contains("at least 2"));
    }

    #[test]
    fn a_subset_of_classes_is_relabelled_in_its_order() {
        let set = ImageSet {
            pixels: (0..5).collect(),
            labels: vec![0, 1, 2, 3, 4],
            channels: 1,
            height: 1,
            width: 1,
            class_names: names(),
        };
        let sub = set.with_classes(&[4, 1]);
        assert_eq!(sub.labels, vec![1, 0]);
        assert_eq!(sub.pixels, vec![1, 4]);
        assert_eq!(sub.class_names, vec!["coat", "trouser"]);
    }
}
