// Stub of Jira's select-list Option.
package com.atlassian.jira.issue.customfields.option

interface Option {
    String getValue()
    Long getOptionId()
}
