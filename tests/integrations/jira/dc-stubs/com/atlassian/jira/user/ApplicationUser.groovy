// Stub of Jira's ApplicationUser.
package com.atlassian.jira.user

interface ApplicationUser {
    String getKey()
    String getUsername()
    String getEmailAddress()
    String getDisplayName()
    boolean isActive()
}
